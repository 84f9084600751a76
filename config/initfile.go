package config

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
)

// InitFile is the name of the file switchyard init writes in its
// directory.
const InitFile = "switchyard.toml"

// PathOrInit is the configuration file to read: path, or, when path is
// named but does not exist and initDir is set ($SWITCHYARD_INIT_DIR: a
// container's first start), initDir/switchyard.toml. init reports that
// the second was chosen (its caller writes it when missing). No path
// means no file (a deployment from flags alone): nothing is chosen.
func PathOrInit(path, initDir string) (file string, init bool) {
	if initDir == "" || path == "" {
		return path, false
	}
	if _, err := os.Stat(path); err == nil || !errors.Is(err, fs.ErrNotExist) {
		return path, false
	}
	return filepath.Join(initDir, InitFile), true
}
