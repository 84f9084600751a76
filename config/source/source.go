// Package source remembers where each key of the configuration was set (a
// line of the file, a flag, an environment variable) and turns problems
// into FieldErrors that name the key, that place and the bad value.
package source

import (
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/pelletier/go-toml/v2"
	"github.com/pelletier/go-toml/v2/unstable"

	"github.com/switchyard-mail/switchyard/config/units"
)

// Map remembers where each key of a configuration came from: a line of
// the file, or a flag or environment variable that overrode it.
type Map struct {
	// Name is the file's name in messages ("switchyard.toml").
	Name string
	// Schema is the root type of the document (config.Config), for
	// messages about a value of the wrong type.
	Schema reflect.Type
	lines  map[string]int    // dotted key -> line in the file
	origin map[string]string // dotted key -> "flag --x" / "env X"
}

// Locate returns the prefix for an error about key: "file:line: ",
// "flag --x: " or "". A key with no entry of its own takes the location of
// its closest ancestor (a missing key points at its table's header).
func (s *Map) Locate(key string) string {
	if s == nil {
		return ""
	}
	file := func(suffix string) string {
		if s.Name == "" {
			return ""
		}
		return s.Name + suffix + ": "
	}
	for k := key; ; {
		if o, ok := s.origin[k]; ok {
			return o + ": "
		}
		if l, ok := s.lines[k]; ok {
			return file(":" + strconv.Itoa(l))
		}
		i := strings.LastIndexAny(k, ".[")
		if i <= 0 {
			return file("")
		}
		k = k[:i]
	}
}

// SetOrigin records that key (and everything under it) was set by origin.
func (s *Map) SetOrigin(key, origin string) {
	if s.origin == nil {
		s.origin = make(map[string]string)
	}
	s.origin[key] = origin
}

// Index records the line of every table header and key in data, keyed by
// the dotted path that Validate uses. Tables of an array get "[i]".
// Keys inside inline tables are not indexed: they take their parent's line.
func (s *Map) Index(data []byte) {
	s.lines = make(map[string]int)
	// Offsets of line starts, for a binary search per key.
	starts := []int{0}
	for i, b := range data {
		if b == '\n' {
			starts = append(starts, i+1)
		}
	}
	lineOf := func(off int) int { return sort.SearchInts(starts, off+1) }

	var p unstable.Parser
	p.Reset(data)
	arrays := make(map[string]int)
	var table string
	for p.NextExpression() {
		e := p.Expression()
		parts, first := keyParts(e.Key())
		if first < 0 {
			first = int(e.Raw.Offset)
		}
		path := KeyPath(parts...)
		switch e.Kind {
		case unstable.Table:
			table = path
		case unstable.ArrayTable:
			n := arrays[path]
			arrays[path] = n + 1
			table = path + "[" + strconv.Itoa(n) + "]"
			// Nested arrays of tables restart under a new parent; keep it
			// simple: the index covers the common one-level case.
		case unstable.KeyValue:
			if table != "" {
				path = table + "." + path
			}
		default:
			continue
		}
		key := path
		if e.Kind != unstable.KeyValue {
			key = table
		}
		s.record(key, lineOf(first))
		if e.Kind == unstable.KeyValue {
			s.indexInline(key, e.Value(), lineOf)
		}
	}
}

// keyParts reads a dotted key: its parts, and the offset of the first
// part that has a place in the document (-1 when none has).
func keyParts(it unstable.Iterator) (parts []string, first int) {
	first = -1
	for it.Next() {
		n := it.Node()
		parts = append(parts, string(n.Data))
		if first < 0 && n.Raw.Length > 0 {
			first = int(n.Raw.Offset)
		}
	}
	return parts, first
}

func (s *Map) record(key string, line int) {
	if _, ok := s.lines[key]; !ok {
		s.lines[key] = line
	}
}

// indexInline records the keys of an inline table value.
func (s *Map) indexInline(parent string, v *unstable.Node, lineOf func(int) int) {
	if v == nil || v.Kind != unstable.InlineTable {
		return
	}
	it := v.Children()
	for it.Next() {
		kv := it.Node()
		if kv.Kind != unstable.KeyValue {
			continue
		}
		parts, first := keyParts(kv.Key())
		key := parent + "." + KeyPath(parts...)
		if first >= 0 {
			s.record(key, lineOf(first))
		}
		s.indexInline(key, kv.Value(), lineOf)
	}
}

// fullKey repairs the key of go-toml's error for a key inside an inline
// table, which lacks the inline table's own key ("http.route.regexp" for
// "http.route[0].extract.regexp"): it picks the indexed key on that line
// with the same last part, when there is exactly one.
func (s *Map) fullKey(key []string, line int) string {
	k := KeyPath(key...)
	if _, ok := s.lines[k]; ok || len(key) == 0 {
		return k
	}
	last := "." + KeyPart(key[len(key)-1])
	found := ""
	for cand, l := range s.lines {
		if l == line && strings.HasSuffix(cand, last) {
			if found != "" {
				return k
			}
			found = cand
		}
	}
	if found == "" {
		return k
	}
	return found
}

// KeyPath renders key parts as a dotted TOML key, quoting the parts that
// are not bare keys.
func KeyPath(parts ...string) string {
	var b strings.Builder
	for i, p := range parts {
		if i > 0 {
			b.WriteByte('.')
		}
		b.WriteString(KeyPart(p))
	}
	return b.String()
}

func KeyPart(p string) string {
	if p == "" {
		return `""`
	}
	for i := 0; i < len(p); i++ {
		c := p[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return strconv.Quote(p)
		}
	}
	return p
}

// DecodeError turns a go-toml error into one naming the file, line and key.
func (s *Map) DecodeError(err error) error {
	var sm *toml.StrictMissingError
	if errors.As(err, &sm) {
		errs := make([]error, 0, len(sm.Errors))
		for i := range sm.Errors {
			de := &sm.Errors[i]
			line, _ := de.Position()
			errs = append(errs, &FieldError{
				Key:      s.fullKey(de.Key(), line),
				Location: s.Name + ":" + strconv.Itoa(line) + ": ",
				Msg:      "unknown key",
			})
		}
		return SortedJoin(errs)
	}
	var de *toml.DecodeError
	if errors.As(err, &de) {
		line, col := de.Position()
		msg := strings.TrimPrefix(de.Error(), "toml: ")
		loc := fmt.Sprintf("%s:%d:%d: ", s.Name, line, col)
		if k := de.Key(); len(k) > 0 {
			return &FieldError{Key: KeyPath(k...), Location: loc, Msg: typeMessage(s.Schema, k, msg)}
		}
		return fmt.Errorf("%s%s", loc, msg)
	}
	return fmt.Errorf("%s: %w", s.Name, err)
}

// FieldError is one problem with one key of the configuration.
type FieldError struct {
	// Key is the full dotted path: "listener.imaps.bind[1]".
	Key string
	// Location is where the key was set, with a trailing ": "
	// ("switchyard.toml:12: ", "flag --listen: "), or empty.
	Location string
	// Msg says what is wrong, quoting the bad value.
	Msg string
}

func (e *FieldError) Error() string {
	return e.Location + e.Key + ": " + e.Msg
}

// SortedJoin sorts field errors by key (then message) and joins them.
func SortedJoin(errs []error) error {
	sort.SliceStable(errs, func(i, j int) bool {
		a, aok := errs[i].(*FieldError)
		b, bok := errs[j].(*FieldError)
		if !aok || !bok {
			return aok && !bok
		}
		if a.Key != b.Key {
			return a.Key < b.Key
		}
		return a.Msg < b.Msg
	})
	return errors.Join(errs...)
}

var tomlKind = regexp.MustCompile(`^cannot (?:decode|store|assign) (?:a )?TOML ([a-z ]+?) (?:in)?to`)

// typeMessage rewrites go-toml's "cannot decode TOML integer into struct
// field config.Listener.Protocol of type config.Protocol" into "expected a
// string, found an integer" from the schema's own types.
func typeMessage(schema reflect.Type, key []string, msg string) string {
	m := tomlKind.FindStringSubmatch(msg)
	if m == nil || schema == nil {
		return msg
	}
	t := FieldType(schema, key)
	if t == nil {
		return msg
	}
	found := m[1]
	switch found {
	case "integer", "array", "inline table", "array table":
		found = "an " + found
	default:
		found = "a " + found
	}
	return "expected " + describeType(t) + ", found " + found
}

// FieldType follows a key path through the schema's types.
func FieldType(t reflect.Type, key []string) reflect.Type {
	for _, part := range key {
		for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice {
			t = t.Elem()
		}
		switch t.Kind() {
		case reflect.Map:
			t = t.Elem()
		case reflect.Struct:
			if t = structField(t, part); t == nil {
				return nil
			}
		default:
			return nil
		}
	}
	return t
}

// structField is the type of the field of struct t whose TOML key is
// name, looking into embedded structs as the TOML codec does (a
// [capabilities.*] table shares its login keys that way); nil when none.
func structField(t reflect.Type, name string) reflect.Type {
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag, _, _ := strings.Cut(f.Tag.Get("toml"), ",")
		if tag == name {
			return f.Type
		}
		if tag == "" && f.Anonymous && f.Type.Kind() == reflect.Struct {
			if ft := structField(f.Type, name); ft != nil {
				return ft
			}
		}
	}
	return nil
}

func describeType(t reflect.Type) string {
	switch t {
	case reflect.TypeOf(units.Duration(0)):
		return `a duration string such as "30s"`
	case reflect.TypeOf(units.Size(0)):
		return `a size (an integer, or a string such as "64KiB")`
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int64, reflect.Int32, reflect.Uint16:
		return "an integer"
	case reflect.Slice:
		e := t.Elem()
		if e.Kind() == reflect.Struct {
			return "an array of tables"
		}
		return "an array of " + strings.TrimPrefix(strings.TrimPrefix(describeType(e), "a "), "an ") + "s"
	case reflect.Map, reflect.Struct, reflect.Pointer:
		return "a table"
	}
	return t.String()
}

// Keys returns the keys that have a line in the file, in no order.
func (s *Map) Keys() []string {
	keys := make([]string, 0, len(s.lines))
	for k := range s.lines {
		keys = append(keys, k)
	}
	return keys
}

// QuoteList renders allowed values for an error message: "a", "b" or "c".
func QuoteList[T ~string](vals ...T) string {
	var b strings.Builder
	for i, v := range vals {
		switch {
		case i == 0:
		case i == len(vals)-1:
			b.WriteString(" or ")
		default:
			b.WriteString(", ")
		}
		b.WriteString(`"` + string(v) + `"`)
	}
	return b.String()
}
