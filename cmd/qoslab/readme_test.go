package main

import (
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// README's command list ("## Working with a lab") must be true: every
// subcommand a person can run has a line there, every flag its --help
// lists appears on its lines, and no line names a flag the command does
// not have. The walk is over the same command tree --help prints.
func TestREADMECommandList(t *testing.T) {
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	lines := commandLines(t, string(b))
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		for _, sub := range c.Commands() {
			if sub.Hidden || sub.Name() == "help" {
				continue
			}
			if sub.HasSubCommands() {
				walk(sub)
				continue
			}
			path := strings.TrimPrefix(sub.CommandPath(), "qoslab ")
			mine := lines[path]
			if len(mine) == 0 {
				t.Errorf("README's command list has no line for qoslab %s", path)
				continue
			}
			text := strings.Join(mine, "\n")
			sub.LocalFlags().VisitAll(func(f *pflag.Flag) {
				if f.Hidden || f.Deprecated != "" || f.Name == "help" {
					return
				}
				if !mentions(text, "--"+f.Name) && (f.Shorthand == "" || !mentions(text, "-"+f.Shorthand)) {
					t.Errorf("README: qoslab %s: flag --%s (%s) is not mentioned", path, f.Name, f.Usage)
				}
			})
			for _, m := range flagRE.FindAllStringSubmatch(text, -1) {
				name := m[2]
				f := sub.Flags().Lookup(name)
				if len(m[1]) == 1 {
					f = sub.Flags().ShorthandLookup(name)
				}
				if f == nil || f.Hidden || f.Deprecated != "" {
					t.Errorf("README: qoslab %s: %s%s is not a flag of the command", path, m[1], name)
				}
			}
		}
	}
	walk(newRootCmd())
	// And nothing there names a command that does not exist.
	for path := range lines {
		if c, _, err := newRootCmd().Find(strings.Fields(path)); err != nil || c.CommandPath() != "qoslab "+path {
			t.Errorf("README lists qoslab %s, which is no command", path)
		}
	}
}

// flagRE finds flags in a command line: --name or -n, not inside words,
// and not the "--" that ends the flags.
var flagRE = regexp.MustCompile(`(?:^|[\s\[|(])(--?)([a-z][a-z0-9-]*)`)

func mentions(text, flag string) bool {
	for _, m := range flagRE.FindAllStringSubmatch(text, -1) {
		if m[1]+m[2] == flag {
			return true
		}
	}
	return false
}

// commandLines maps each command path ("call", "bench up") to the lines of
// README's command list that show it. A line's comment (# ...) is not a
// command; a line starting with spaces continues the one before.
func commandLines(t *testing.T, readme string) map[string][]string {
	t.Helper()
	_, rest, ok := strings.Cut(readme, "## Working with a lab\n")
	if !ok {
		t.Fatal("README has no \"## Working with a lab\" section")
	}
	_, block, ok := strings.Cut(rest, "```sh\n")
	block, _, ok2 := strings.Cut(block, "```")
	if !ok || !ok2 {
		t.Fatal("README's \"Working with a lab\" has no ```sh command block")
	}
	out := map[string][]string{}
	root := newRootCmd()
	var last string
	for _, line := range strings.Split(block, "\n") {
		code, _, _ := strings.Cut(line, "#")
		if strings.TrimSpace(code) == "" {
			continue
		}
		if strings.HasPrefix(code, " ") {
			if last != "" {
				out[last] = append(out[last], code)
			}
			continue
		}
		words := strings.Fields(code)
		if len(words) < 2 || words[0] != "qoslab" {
			t.Errorf("README command list: %q is not a qoslab command", line)
			continue
		}
		// "bench up" is a path of two words; "completion bash|zsh" names
		// several subcommands at once.
		paths := []string{words[1]}
		args := words[2:]
		if c, _, err := root.Find(words[1:2]); err == nil && c.HasSubCommands() && len(words) > 2 {
			paths = nil
			for _, sub := range strings.Split(words[2], "|") {
				paths = append(paths, words[1]+" "+sub)
			}
			args = words[3:]
		}
		last = paths[0]
		for _, p := range paths {
			out[p] = append(out[p], strings.Join(args, " "))
		}
	}
	return out
}
