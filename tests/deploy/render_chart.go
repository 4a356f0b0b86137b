// render_chart renders a Helm chart the way `helm template` does, for tests on a machine
// without helm: Go's text/template with the sprig functions (as Helm uses them) plus the Helm
// built-ins this project's chart needs (include, tpl, required, toYaml, fromYaml, toJson,
// fromJson, fromJsonArray, lookup) and .Values/.Release/.Chart/.Capabilities/.Template.
//
// Usage: go run render_chart.go -chart DIR [-name R] [-namespace NS] [-f values.yaml]...
//
//	[-set a.b=c]... [-notes]
//
// Prints the manifests as a multi-document YAML stream (each prefixed "# Source: ..."), or
// with -notes the rendered NOTES.txt. A template error or `fail` exits 1 with the message.
// Build offline with: GOPATH=/usr/share/gocode GO111MODULE=off go run render_chart.go ...
package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"text/template"

	"github.com/Masterminds/sprig"
	"gopkg.in/yaml.v3"
)

type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

// normalize turns yaml.v3 output into JSON-like types (map[string]interface{}, []interface{}).
func normalize(v interface{}) interface{} {
	switch t := v.(type) {
	case map[string]interface{}:
		for k, e := range t {
			t[k] = normalize(e)
		}
		return t
	case map[interface{}]interface{}:
		m := map[string]interface{}{}
		for k, e := range t {
			m[fmt.Sprint(k)] = normalize(e)
		}
		return m
	case []interface{}:
		for i, e := range t {
			t[i] = normalize(e)
		}
		return t
	}
	return v
}

func readYAMLMap(path string) (map[string]interface{}, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	out := map[string]interface{}{}
	if err := yaml.Unmarshal(data, &out); err != nil {
		return nil, fmt.Errorf("%s: %v", path, err)
	}
	return normalize(out).(map[string]interface{}), nil
}

// merge copies src into dst recursively (maps merge, everything else replaces).
func merge(dst, src map[string]interface{}) {
	for k, v := range src {
		if sm, ok := v.(map[string]interface{}); ok {
			if dm, ok := dst[k].(map[string]interface{}); ok {
				merge(dm, sm)
				continue
			}
		}
		dst[k] = v
	}
}

// parseSetValue follows helm --set: ints, bools, null, {a,b} lists, else strings.
func parseSetValue(s string) interface{} {
	if strings.HasPrefix(s, "{") && strings.HasSuffix(s, "}") {
		var list []interface{}
		inner := strings.TrimSuffix(strings.TrimPrefix(s, "{"), "}")
		if inner != "" {
			for _, item := range strings.Split(inner, ",") {
				list = append(list, parseSetValue(item))
			}
		}
		if list == nil {
			list = []interface{}{}
		}
		return list
	}
	if i, err := strconv.ParseInt(s, 10, 64); err == nil {
		return i
	}
	switch s {
	case "true":
		return true
	case "false":
		return false
	case "null":
		return nil
	}
	return s
}

func applySet(values map[string]interface{}, expr string) error {
	eq := strings.Index(expr, "=")
	if eq < 0 {
		return fmt.Errorf("-set %q: want key=value", expr)
	}
	keys := strings.Split(expr[:eq], ".")
	m := values
	for _, k := range keys[:len(keys)-1] {
		next, ok := m[k].(map[string]interface{})
		if !ok {
			next = map[string]interface{}{}
			m[k] = next
		}
		m = next
	}
	m[keys[len(keys)-1]] = parseSetValue(expr[eq+1:])
	return nil
}

func toYAML(v interface{}) string {
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(v); err != nil {
		return ""
	}
	return strings.TrimSuffix(buf.String(), "\n")
}

type capabilities struct {
	KubeVersion struct{ Version, Major, Minor string }
	APIVersions apiVersions
}

type apiVersions []string

func (a apiVersions) Has(v string) bool {
	for _, x := range a {
		if x == v {
			return true
		}
	}
	return false
}

func main() {
	chartDir := flag.String("chart", "", "chart directory")
	name := flag.String("name", "tollgate", "release name")
	namespace := flag.String("namespace", "tollgate", "release namespace")
	notes := flag.Bool("notes", false, "render NOTES.txt instead of the manifests")
	var valueFiles, sets multiFlag
	flag.Var(&valueFiles, "f", "values file (repeatable)")
	flag.Var(&sets, "set", "key=value override (repeatable)")
	flag.Parse()
	if err := run(*chartDir, *name, *namespace, *notes, valueFiles, sets); err != nil {
		fmt.Fprintln(os.Stderr, "render_chart:", err)
		os.Exit(1)
	}
}

func run(chartDir, name, namespace string, notes bool, valueFiles, sets []string) error {
	chartMeta, err := readYAMLMap(filepath.Join(chartDir, "Chart.yaml"))
	if err != nil {
		return err
	}
	values, err := readYAMLMap(filepath.Join(chartDir, "values.yaml"))
	if err != nil {
		return err
	}
	for _, f := range valueFiles {
		extra, err := readYAMLMap(f)
		if err != nil {
			return err
		}
		merge(values, extra)
	}
	for _, s := range sets {
		if err := applySet(values, s); err != nil {
			return err
		}
	}
	chartName := fmt.Sprint(chartMeta["name"])
	chart := map[string]interface{}{
		"Name": chartName, "Version": fmt.Sprint(chartMeta["version"]),
		"AppVersion": fmt.Sprint(chartMeta["appVersion"]),
		"Description": fmt.Sprint(chartMeta["description"]),
	}
	caps := capabilities{APIVersions: apiVersions{"v1", "apps/v1", "policy/v1",
		"networking.k8s.io/v1", "admissionregistration.k8s.io/v1"}}
	caps.KubeVersion.Version, caps.KubeVersion.Major, caps.KubeVersion.Minor = "v1.29.0", "1", "29"

	root := template.New("chart").Option("missingkey=zero")
	funcs := sprig.TxtFuncMap()
	delete(funcs, "env")
	delete(funcs, "expandenv")
	funcs["toYaml"] = toYAML
	funcs["toJson"] = func(v interface{}) string {
		b, err := json.Marshal(v)
		if err != nil {
			return ""
		}
		return string(b)
	}
	funcs["fromYaml"] = func(s string) map[string]interface{} {
		out := map[string]interface{}{}
		if err := yaml.Unmarshal([]byte(s), &out); err != nil {
			out["Error"] = err.Error()
		}
		return normalize(out).(map[string]interface{})
	}
	funcs["fromJson"] = func(s string) map[string]interface{} {
		out := map[string]interface{}{}
		if err := json.Unmarshal([]byte(s), &out); err != nil {
			out["Error"] = err.Error()
		}
		return out
	}
	funcs["fromJsonArray"] = func(s string) []interface{} {
		var out []interface{}
		if err := json.Unmarshal([]byte(s), &out); err != nil {
			return []interface{}{err.Error()}
		}
		return out
	}
	funcs["required"] = func(msg string, v interface{}) (interface{}, error) {
		if v == nil || fmt.Sprint(v) == "" {
			return nil, errors.New(msg)
		}
		return v, nil
	}
	funcs["lookup"] = func(...string) map[string]interface{} { return map[string]interface{}{} }
	funcs["include"] = func(string, interface{}) (string, error) { return "", nil }
	funcs["tpl"] = func(string, interface{}) (string, error) { return "", nil }
	root.Funcs(funcs)
	// include and tpl need the parsed set; bind them after parsing.
	funcs["include"] = func(name string, data interface{}) (string, error) {
		var buf bytes.Buffer
		err := root.ExecuteTemplate(&buf, name, data)
		return strings.ReplaceAll(buf.String(), "<no value>", ""), err
	}
	funcs["tpl"] = func(text string, data interface{}) (string, error) {
		t, err := root.Clone()
		if err != nil {
			return "", err
		}
		t, err = t.New("tpl").Parse(text)
		if err != nil {
			return "", err
		}
		var buf bytes.Buffer
		err = t.Execute(&buf, data)
		return buf.String(), err
	}

	tdir := filepath.Join(chartDir, "templates")
	entries, err := os.ReadDir(tdir)
	if err != nil {
		return err
	}
	var files []string
	for _, e := range entries {
		if e.IsDir() {
			continue
		}
		data, err := os.ReadFile(filepath.Join(tdir, e.Name()))
		if err != nil {
			return err
		}
		tname := chartName + "/templates/" + e.Name()
		if _, err := root.New(tname).Parse(string(data)); err != nil {
			return err
		}
		files = append(files, e.Name())
	}
	root.Funcs(funcs)
	sort.Strings(files)

	release := map[string]interface{}{"Name": name, "Namespace": namespace, "Service": "Helm",
		"IsInstall": true, "IsUpgrade": false, "Revision": 1}
	var out bytes.Buffer
	for _, f := range files {
		isNotes := f == "NOTES.txt"
		if strings.HasPrefix(f, "_") || isNotes != notes {
			continue
		}
		tname := chartName + "/templates/" + f
		data := map[string]interface{}{
			"Values": values, "Release": release, "Chart": chart, "Capabilities": caps,
			"Template": map[string]interface{}{"Name": tname, "BasePath": chartName + "/templates"},
		}
		var buf bytes.Buffer
		if err := root.ExecuteTemplate(&buf, tname, data); err != nil {
			return err
		}
		text := strings.ReplaceAll(buf.String(), "<no value>", "")
		if notes {
			out.WriteString(text)
			continue
		}
		if strings.TrimSpace(text) == "" {
			continue
		}
		fmt.Fprintf(&out, "---\n# Source: %s\n%s\n", tname, strings.TrimSpace(text))
	}
	_, err = os.Stdout.Write(out.Bytes())
	return err
}
