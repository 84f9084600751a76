//go:build !unix

package filestore

import "os"

// sysID has no inode to offer here; size and modification time still catch
// most changes.
func sysID(os.FileInfo) (dev, ino uint64) { return 0, 0 }
