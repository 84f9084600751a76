package config

import (
	"reflect"
	"strings"
	"testing"
)

// schemaKeys lists every key of the schema as a dotted path, with <id>,
// <proto> or <node> for map keys ("listener.<id>.bind").
func schemaKeys(t reflect.Type, prefix string) []string {
	var keys []string
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("toml"), ",")
		if name == "" && f.Anonymous {
			keys = append(keys, schemaKeys(f.Type, prefix)...) // its keys are the table's
			continue
		}
		if name == "" || name == "-" {
			continue
		}
		path := prefix + name
		ft := f.Type
		for ft.Kind() == reflect.Pointer {
			ft = ft.Elem()
		}
		switch {
		case ft.Kind() == reflect.Struct && ft != reflect.TypeOf(Duration(0)):
			keys = append(keys, schemaKeys(ft, path+".")...)
		case ft.Kind() == reflect.Map:
			ph := "<id>"
			switch {
			case ft.Key() == reflect.TypeOf(Protocol("")):
				ph = "<proto>"
			case name == "weights":
				ph = "<node>"
			}
			if ft.Elem().Kind() == reflect.Struct {
				keys = append(keys, schemaKeys(ft.Elem(), path+"."+ph+".")...)
			} else {
				keys = append(keys, path+"."+ph)
			}
		case ft.Kind() == reflect.Slice && ft.Elem().Kind() == reflect.Struct:
			keys = append(keys, schemaKeys(ft.Elem(), path+".")...)
		default:
			keys = append(keys, path)
		}
	}
	return keys
}

func TestREADMEDocumentsEveryKey(t *testing.T) {
	readme := string(readFile(t, "README.md"))
	keys := schemaKeys(reflect.TypeOf(Config{}), "")
	if len(keys) < 80 {
		t.Fatalf("only %d keys found: %v", len(keys), keys)
	}
	for _, k := range keys {
		if !strings.Contains(readme, "`"+k+"`") {
			t.Errorf("README.md does not document `%s`", k)
		}
	}
}
