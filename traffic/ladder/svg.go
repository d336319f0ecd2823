package ladder

import (
	"fmt"
	"html"
	"strings"
)

// Layout of the SVG, in pixels.
const (
	laneGap   = 120
	marginX   = 90
	headerY   = 50
	rowGap    = 30
	firstRowY = 90
)

// protoColor colours arrows by protocol, as Wireshark's default colouring
// rules roughly do; failed steps are red.
var protoColor = map[string]string{"sip": "#1f5fbf", "cops": "#2e7d32", "osp": "#c46a00", "rtp": "#6a1b9a"}

func (d Diagram) laneX(lane string) int {
	for i, l := range d.Lanes {
		if l == lane {
			return marginX + i*laneGap
		}
	}
	return marginX
}

// SVG renders the ladder as a standalone SVG document.
func (d Diagram) SVG() []byte {
	var b strings.Builder
	width := marginX*2 + (len(d.Lanes)-1)*laneGap
	height := firstRowY + len(d.Arrows)*rowGap + 40
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="Helvetica, Arial, sans-serif" font-size="12">`+"\n", width, height, width, height)
	b.WriteString(`<defs>`)
	for _, c := range []string{"#1f5fbf", "#2e7d32", "#c46a00", "#6a1b9a", "#d32f2f", "#555555"} {
		id := strings.TrimPrefix(c, "#")
		fmt.Fprintf(&b, `<marker id="h%s" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="8" markerHeight="8" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="%s"/></marker>`, id, c)
	}
	b.WriteString("</defs>\n")
	fmt.Fprintf(&b, `<rect width="100%%" height="100%%" fill="white"/>`+"\n")
	fmt.Fprintf(&b, `<text x="%d" y="20" font-size="14" font-weight="bold">%s</text>`+"\n", 10, html.EscapeString(d.Title))
	for _, l := range d.Lanes {
		x := d.laneX(l)
		fmt.Fprintf(&b, `<rect x="%d" y="%d" width="80" height="24" rx="4" fill="#eeeeee" stroke="#333"/>`, x-40, headerY-17)
		fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="middle" font-weight="bold">%s</text>`, x, headerY, html.EscapeString(l))
		fmt.Fprintf(&b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="#999" stroke-dasharray="4 3"/>`+"\n", x, headerY+8, x, height-20)
	}
	phase := ""
	for i, a := range d.Arrows {
		y := firstRowY + i*rowGap
		if a.Phase != "" && string(a.Phase) != phase {
			if phase != "" {
				fmt.Fprintf(&b, `<line x1="10" y1="%d" x2="%d" y2="%d" stroke="#333" stroke-width="0.5"/>`, y-rowGap/2, width-10, y-rowGap/2)
			}
			phase = string(a.Phase)
			fig := map[string]string{"setup": "FIG. 5 setup", "teardown": "FIG. 6 teardown"}[phase]
			fmt.Fprintf(&b, `<text x="10" y="%d" font-size="10" fill="#333">%s</text>`+"\n", y-rowGap/2+12, fig)
		}
		color := protoColor[a.Proto]
		if color == "" {
			color = "#555555"
		}
		if a.Failed {
			color = "#d32f2f"
		}
		x1, x2 := d.laneX(a.From), d.laneX(a.To)
		marker := strings.TrimPrefix(color, "#")
		dash := ""
		if a.Step == 0 {
			dash = ` stroke-dasharray="2 2"`
		}
		if a.Both {
			dash = ` stroke-dasharray="6 3"`
			fmt.Fprintf(&b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="%s" stroke-width="1.5"%s marker-start="url(#h%s)" marker-end="url(#h%s)"/>`, x1, y, x2, y, color, dash, marker, marker)
		} else if x1 == x2 {
			fmt.Fprintf(&b, `<path d="M%d,%d h30 v10 h-30" fill="none" stroke="%s" stroke-width="1.5" marker-end="url(#h%s)"/>`, x1, y-5, color, marker)
		} else {
			fmt.Fprintf(&b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="%s" stroke-width="1.5"%s marker-end="url(#h%s)"/>`, x1, y, x2, y, color, dash, marker)
		}
		fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="middle" fill="%s">%s</text>`, (x1+x2)/2, y-4, color, html.EscapeString(a.Label))
		if a.Packet != 0 {
			fmt.Fprintf(&b, `<text x="%d" y="%d" font-size="9" fill="#777"><title>packet %d on %s</title>#%d</text>`, width-marginX/2-10, y+4, a.Packet, html.EscapeString(a.Link), a.Packet)
		}
		b.WriteString("\n")
	}
	b.WriteString("</svg>\n")
	return []byte(b.String())
}

// HTML renders one page with the ladder of each diagram and, under each,
// the table of its messages with packet numbers and links.
func HTML(title string, ds []Diagram) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>%s</title>\n", html.EscapeString(title))
	b.WriteString("<style>body{font-family:Helvetica,Arial,sans-serif;margin:2em}table{border-collapse:collapse;margin:1em 0 3em}td,th{border:1px solid #ccc;padding:2px 8px;font-size:12px}.fail{color:#d32f2f;font-weight:bold}</style>\n</head><body>\n")
	fmt.Fprintf(&b, "<h1>%s</h1>\n", html.EscapeString(title))
	for _, d := range ds {
		fmt.Fprintf(&b, "<h2>%s</h2>\n", html.EscapeString(d.Title))
		b.Write(d.SVG())
		b.WriteString("<table><tr><th>phase</th><th>step</th><th>message</th><th>from</th><th>to</th><th>packet</th><th>link</th></tr>\n")
		for _, a := range d.Arrows {
			cls := ""
			if a.Failed {
				cls = ` class="fail"`
			}
			step := ""
			if a.Step != 0 {
				step = fmt.Sprint(a.Step)
			}
			pkt := ""
			if a.Packet != 0 {
				pkt = fmt.Sprint(a.Packet)
			}
			fmt.Fprintf(&b, "<tr%s><td>%s</td><td>%s</td><td>%s</td><td>%s</td><td>%s</td><td>%s</td><td>%s</td></tr>\n", cls,
				a.Phase, step, html.EscapeString(a.Label), a.From, a.To, pkt, html.EscapeString(a.Link))
		}
		b.WriteString("</table>\n")
	}
	b.WriteString("</body></html>\n")
	return []byte(b.String())
}

// Mermaid renders the ladder as a Mermaid sequence diagram.
func (d Diagram) Mermaid() string {
	var b strings.Builder
	b.WriteString("sequenceDiagram\n")
	fmt.Fprintf(&b, "    %%%% %s\n", d.Title)
	for _, l := range d.Lanes {
		fmt.Fprintf(&b, "    participant %s\n", mermaidID(l))
	}
	phase := ""
	for _, a := range d.Arrows {
		if a.Phase != "" && string(a.Phase) != phase {
			phase = string(a.Phase)
			fmt.Fprintf(&b, "    Note over %s,%s: %s\n", mermaidID(d.Lanes[0]), mermaidID(d.Lanes[len(d.Lanes)-1]), map[string]string{"setup": "FIG. 5 setup", "teardown": "FIG. 6 teardown"}[phase])
		}
		arrow := "->>"
		if a.Step == 0 {
			arrow = "-->>"
		}
		label := strings.NewReplacer(";", ",", "#", "", ":", " ").Replace(a.Label)
		if a.Failed {
			label += " (FAILED)"
		}
		if a.Both {
			label += " (both ways)"
		}
		fmt.Fprintf(&b, "    %s%s%s: %s\n", mermaidID(a.From), arrow, mermaidID(a.To), label)
	}
	return b.String()
}

// mermaidID makes a lane name safe as a Mermaid participant id.
func mermaidID(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' {
			return r
		}
		return '_'
	}, s)
}
