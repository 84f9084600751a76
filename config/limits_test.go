package config

import (
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/switchyard-mail/switchyard/limits"
)

// notALimit lists numeric keys with a default that package limits does
// not name, and why.
var notALimit = map[string]string{}

type leaf struct {
	kind  limits.Kind
	value int64
}

// numericLeaves returns the numeric settings under v by their key, with
// map ids written "<id>" as in docs/LIMITS.md.
func numericLeaves(v reflect.Value, key string, out map[string]leaf) {
	switch v.Kind() {
	case reflect.Pointer:
		if !v.IsNil() {
			numericLeaves(v.Elem(), key, out)
		}
		return
	case reflect.Struct:
		for i := 0; i < v.NumField(); i++ {
			f := v.Type().Field(i)
			name, _, _ := strings.Cut(f.Tag.Get("toml"), ",")
			if name == "" && f.Anonymous && f.IsExported() {
				numericLeaves(v.Field(i), key, out) // its keys are the table's
				continue
			}
			if name == "" || !f.IsExported() {
				continue
			}
			k := name
			if key != "" {
				k = key + "." + name
			}
			numericLeaves(v.Field(i), k, out)
		}
		return
	case reflect.Map:
		for _, k := range v.MapKeys() {
			numericLeaves(v.MapIndex(k), key+".<id>", out)
		}
		return
	}
	switch v.Type() {
	case reflect.TypeFor[Duration]():
		out[key] = leaf{limits.KindDuration, v.Int()}
	case reflect.TypeFor[Size]():
		out[key] = leaf{limits.KindBytes, v.Int()}
	default:
		switch v.Kind() {
		case reflect.Int, reflect.Int64:
			out[key] = leaf{limits.KindCount, v.Int()}
		}
	}
}

func describe(kind limits.Kind, v int64) string {
	switch kind {
	case limits.KindDuration:
		return limits.FormatDuration(Duration(v).D())
	case limits.KindBytes:
		return limits.FormatBytes(v)
	}
	return strconv.FormatInt(v, 10)
}

// TestDefaultsAreLimits keeps the configuration's defaults and package
// limits in step: every limit with a config key is that key's default
// (Default, NewListener, NewDestination, NewAdmin and the store sections
// Parse fills), and every numeric key with a default is a limit, so that
// a default changed in one place and not the other fails here.
func TestDefaultsAreLimits(t *testing.T) {
	c := mustParse(t, "[listener.l]\n[destination.d]\n[admin]\n[mapping.redis]\n[mapping.sql]\n")
	if !reflect.DeepEqual(c.Listener["l"], NewListener()) {
		t.Errorf("a declared listener is not NewListener():\n%+v\n%+v", c.Listener["l"], NewListener())
	}
	if !reflect.DeepEqual(c.Destination["d"], NewDestination()) {
		t.Errorf("a declared destination is not NewDestination():\n%+v\n%+v", c.Destination["d"], NewDestination())
	}
	if !reflect.DeepEqual(c.Admin, NewAdmin()) {
		t.Errorf("a declared [admin] is not NewAdmin():\n%+v\n%+v", c.Admin, NewAdmin())
	}
	got := map[string]leaf{}
	numericLeaves(reflect.ValueOf(c).Elem(), "", got)

	keyed := map[string]bool{}
	for _, l := range limits.Table {
		if l.Key == "" {
			continue
		}
		keyed[l.Key] = true
		d, ok := got[l.Key]
		switch {
		case !ok:
			t.Errorf("limits.%s is set by %s, which is not a numeric key of the configuration", l.Name, l.Key)
		case d.kind != l.Kind:
			t.Errorf("%s: the configuration's kind of value differs from limits.%s's", l.Key, l.Name)
		case d.value != l.Value:
			t.Errorf("%s: the configuration's default is %s, limits.%s says %s: change one to the other",
				l.Key, describe(d.kind, d.value), l.Name, l.Default)
		}
	}
	var missing []string
	for key, d := range got {
		if d.value == 0 || keyed[key] {
			continue
		}
		if _, ok := notALimit[key]; !ok {
			missing = append(missing, key+" (default "+describe(d.kind, d.value)+")")
		}
	}
	slices.Sort(missing)
	for _, m := range missing {
		t.Errorf("%s has a default but no limit in package limits: add it there (docs/LIMITS.md) and take the default from it", m)
	}
	for key := range notALimit {
		if keyed[key] {
			t.Errorf("%s is both a limit and listed in notALimit", key)
		}
	}
}

// TestREADMEDefaultsAreLimits checks the default column of README.md
// against package limits for every key that sets a limit.
func TestREADMEDefaultsAreLimits(t *testing.T) {
	rows := map[string]string{} // key -> default cell
	for _, line := range strings.Split(string(readFile(t, "README.md")), "\n") {
		cells := strings.Split(line, " | ")
		if len(cells) >= 4 && strings.HasPrefix(cells[0], "| `") {
			rows[strings.Trim(cells[0], "| `")] = cells[2]
		}
	}
	for _, l := range limits.Table {
		if l.Key == "" {
			continue
		}
		cell, ok := rows[l.Key]
		if !ok {
			t.Errorf("README.md has no row for %s", l.Key)
			continue
		}
		v, _, _ := strings.Cut(strings.TrimPrefix(cell, "`"), "`")
		v = strings.Trim(v, `"`)
		got, err := parseLimit(l.Kind, v)
		if err != nil {
			t.Errorf("README.md, %s: default %s: %v", l.Key, cell, err)
			continue
		}
		if got != l.Value {
			t.Errorf("README.md documents %s = %s; limits.%s is %s", l.Key, cell, l.Name, l.Default)
		}
	}
}

// parseLimit reads a default as README.md writes it, in the unit of kind.
func parseLimit(kind limits.Kind, v string) (int64, error) {
	switch kind {
	case limits.KindDuration:
		d, err := ParseDuration(v)
		return int64(d), err
	case limits.KindBytes:
		s, err := ParseSize(v)
		return int64(s), err
	}
	return strconv.ParseInt(v, 10, 64)
}
