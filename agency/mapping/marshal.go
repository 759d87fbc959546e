package mapping

import (
	"bytes"
	"fmt"
	"strconv"

	"gopkg.in/yaml.v3"
)

// Marshal writes the mapping back as a version 1 mapping file in a
// canonical layout: fields in schema order, indicators sorted by name,
// defaults spelled out. Parse(Marshal(m)) describes the same mapping.
func (m *Mapping) Marshal() ([]byte, error) {
	str := func(s string) *yaml.Node {
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: s}
	}
	list := func(ss []string) *yaml.Node {
		n := &yaml.Node{Kind: yaml.SequenceNode, Style: yaml.FlowStyle}
		for _, s := range ss {
			n.Content = append(n.Content, str(s))
		}
		return n
	}
	mapping := func(flow bool) *yaml.Node {
		n := &yaml.Node{Kind: yaml.MappingNode}
		if flow {
			n.Style = yaml.FlowStyle
		}
		return n
	}
	add := func(n *yaml.Node, key string, v *yaml.Node) {
		n.Content = append(n.Content, str(key), v)
	}

	root := mapping(false)
	add(root, "version", &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!int", Value: strconv.Itoa(Version)})
	if m.source != "" {
		add(root, "source", str(m.source))
	}
	csvNode := mapping(false)
	delim := str(string(m.delimiter))
	delim.Style = yaml.DoubleQuotedStyle
	add(csvNode, "delimiter", delim)
	add(csvNode, "encoding", str(m.encoding))
	add(root, "csv", csvNode)

	fields := mapping(false)
	for _, f := range m.fields {
		if f.plain {
			add(fields, f.name, str(f.columns[0]))
			continue
		}
		spec := mapping(true)
		if len(f.columns) == 1 {
			add(spec, "column", str(f.columns[0]))
		} else {
			add(spec, "columns", list(f.columns))
			sep := str(f.separator)
			sep.Style = yaml.DoubleQuotedStyle
			add(spec, "separator", sep)
		}
		if f.formats != nil {
			add(spec, "formats", list(f.formats.sources()))
		}
		add(fields, f.name, spec)
	}
	add(root, "fields", fields)

	if len(m.dates) > 0 {
		dates := mapping(false)
		for _, d := range m.dates {
			add(dates, d.column, list(d.formats.sources()))
		}
		add(root, "dates", dates)
	}
	if len(m.indicators) > 0 {
		inds := mapping(false)
		for _, ind := range m.indicators {
			add(inds, ind.name, str(ind.expr))
		}
		add(root, "indicators", inds)
	}

	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(root); err != nil {
		return nil, fmt.Errorf("marshal mapping: %w", err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("marshal mapping: %w", err)
	}
	return buf.Bytes(), nil
}
