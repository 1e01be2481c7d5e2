//go:build ignore

// gen_samples writes the demo project's sample images (small SVG scenes with
// a numbered label) and their manifest into static/samples/. Run it with
// `go generate ./web`; the output is committed, so building needs nothing.
package main

import (
	"encoding/json"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"strings"
)

const (
	count  = 36
	width  = 320
	height = 240
	outDir = "static/samples"
)

type sample struct {
	File  string `json:"file"`  // the file name the demo locks
	Src   string `json:"src"`   // the image under /static/
	Title string `json:"title"` // what the scene shows
}

// rng is a tiny deterministic generator, so the output never changes.
type rng uint32

func (r *rng) next() int {
	*r = *r*1664525 + 1013904223
	return int(*r >> 8)
}
func (r *rng) in(lo, hi int) int      { return lo + r.next()%(hi-lo+1) }
func (r *rng) pick(s []string) string { return s[r.next()%len(s)] }

type scene struct {
	name string
	draw func(b *strings.Builder, r *rng, variant int)
}

var scenes = []scene{
	{"mountains", mountains},
	{"city street", city},
	{"park", park},
	{"harbour", harbour},
	{"still life", stillLife},
	{"night village", night},
}

func main() {
	if err := os.MkdirAll(outDir, 0o755); err != nil {
		log.Fatal(err)
	}
	var manifest []sample
	for i := 1; i <= count; i++ {
		sc := scenes[(i-1)%len(scenes)]
		r := rng(uint32(i) * 2654435761)
		var b strings.Builder
		fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 %d %d" width="%d" height="%d">`, width, height, width, height)
		b.WriteString("\n")
		sc.draw(&b, &r, (i-1)/len(scenes))
		label(&b, i)
		b.WriteString("</svg>\n")
		name := fmt.Sprintf("scene-%02d.svg", i)
		if err := os.WriteFile(filepath.Join(outDir, name), []byte(b.String()), 0o644); err != nil {
			log.Fatal(err)
		}
		manifest = append(manifest, sample{File: "images/" + name, Src: "samples/" + name, Title: fmt.Sprintf("%s #%d", sc.name, i)})
	}
	j, err := json.MarshalIndent(manifest, "", "  ")
	if err != nil {
		log.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(outDir, "index.json"), append(j, '\n'), 0o644); err != nil {
		log.Fatal(err)
	}
}

func label(b *strings.Builder, n int) {
	fmt.Fprintf(b, `<g font-family="DejaVu Sans,Arial,sans-serif" font-weight="700"><rect x="10" y="10" width="58" height="30" rx="8" fill="#111827" fill-opacity=".78"/><text x="39" y="31" font-size="18" fill="#fff" text-anchor="middle">%02d</text></g>`+"\n", n)
}

func sky(b *strings.Builder, id, top, bottom string) {
	fmt.Fprintf(b, `<defs><linearGradient id="%s" x1="0" y1="0" x2="0" y2="1"><stop offset="0" stop-color="%s"/><stop offset="1" stop-color="%s"/></linearGradient></defs><rect width="%d" height="%d" fill="url(#%s)"/>`+"\n", id, top, bottom, width, height, id)
}

func cloud(b *strings.Builder, x, y int) {
	fmt.Fprintf(b, `<g fill="#fff" fill-opacity=".9"><ellipse cx="%d" cy="%d" rx="26" ry="11"/><ellipse cx="%d" cy="%d" rx="16" ry="12"/><ellipse cx="%d" cy="%d" rx="14" ry="9"/></g>`+"\n", x, y, x-8, y-7, x+12, y-4)
}

func mountains(b *strings.Builder, r *rng, v int) {
	skies := [][2]string{{"#7dd3fc", "#e0f2fe"}, {"#f97316", "#fde68a"}, {"#818cf8", "#fbcfe8"}}
	s := skies[v%len(skies)]
	sky(b, "s", s[0], s[1])
	fmt.Fprintf(b, `<circle cx="%d" cy="%d" r="%d" fill="#fde047"/>`+"\n", r.in(190, 280), r.in(40, 80), r.in(16, 26))
	for k := 0; k < 3; k++ {
		x, h := r.in(20, 300), r.in(90, 150)
		shade := []string{"#475569", "#64748b", "#334155"}[k]
		fmt.Fprintf(b, `<path d="M%d 200 L%d %d L%d 200Z" fill="%s"/><path d="M%d %d L%d %d L%d %d L%d %d Z" fill="#f8fafc"/>`+"\n",
			x-110, x, 200-h, x+110, shade, x, 200-h, x-22, 200-h+26, x, 200-h+18, x+22, 200-h+26)
	}
	fmt.Fprintf(b, `<rect y="196" width="%d" height="44" fill="#65a30d"/>`+"\n", width)
	cloud(b, r.in(60, 140), r.in(40, 70))
}

func city(b *strings.Builder, r *rng, v int) {
	sky(b, "s", []string{"#bae6fd", "#fecaca", "#ddd6fe"}[v%3], "#f1f5f9")
	x := 0
	colors := []string{"#94a3b8", "#a78bfa", "#f59e0b", "#ef4444", "#14b8a6", "#64748b"}
	for x < width {
		w, h := r.in(38, 64), r.in(80, 170)
		fmt.Fprintf(b, `<rect x="%d" y="%d" width="%d" height="%d" fill="%s"/>`, x, 190-h, w, h, r.pick(colors))
		for wy := 200 - h; wy < 176; wy += 18 {
			for wx := x + 6; wx+8 < x+w; wx += 14 {
				fmt.Fprintf(b, `<rect x="%d" y="%d" width="8" height="10" fill="#fef9c3" fill-opacity=".85"/>`, wx, wy)
			}
		}
		b.WriteString("\n")
		x += w + r.in(2, 8)
	}
	fmt.Fprintf(b, `<rect y="190" width="%d" height="50" fill="#374151"/><path d="M0 215 H%d" stroke="#facc15" stroke-width="4" stroke-dasharray="18 14"/>`+"\n", width)
	cx := r.in(30, 230)
	fmt.Fprintf(b, `<g><rect x="%d" y="196" width="60" height="18" rx="6" fill="%s"/><rect x="%d" y="186" width="34" height="14" rx="5" fill="%s"/><circle cx="%d" cy="216" r="6" fill="#111"/><circle cx="%d" cy="216" r="6" fill="#111"/></g>`+"\n",
		cx, r.pick([]string{"#2563eb", "#dc2626", "#16a34a"}), cx+12, "#93c5fd", cx+14, cx+46)
}

func tree(b *strings.Builder, x, y, s int, leaf string) {
	fmt.Fprintf(b, `<rect x="%d" y="%d" width="%d" height="%d" fill="#92400e"/><circle cx="%d" cy="%d" r="%d" fill="%s"/>`+"\n", x-s/6, y-s, s/3, s, x, y-s, s*2/3, leaf)
}

func park(b *strings.Builder, r *rng, v int) {
	sky(b, "s", "#93c5fd", "#dbeafe")
	cloud(b, r.in(40, 120), r.in(30, 60))
	cloud(b, r.in(180, 280), r.in(30, 70))
	fmt.Fprintf(b, `<path d="M0 170 Q160 %d 320 170 V240 H0Z" fill="#4ade80"/><path d="M0 200 Q160 %d 320 200 V240 H0Z" fill="#22c55e"/>`+"\n", r.in(130, 160), r.in(180, 200))
	leaves := []string{"#15803d", "#166534", "#ca8a04", "#ea580c"}
	for k := 0; k < 3+v%3; k++ {
		tree(b, r.in(20, 300), r.in(185, 215), r.in(28, 44), leaves[(k+v)%len(leaves)])
	}
	fmt.Fprintf(b, `<g transform="translate(%d 205)"><circle r="7" fill="#f472b6"/><circle r="3" fill="#fde047"/></g>`+"\n", r.in(40, 280))
}

func harbour(b *strings.Builder, r *rng, v int) {
	sky(b, "s", []string{"#38bdf8", "#fb923c", "#a5b4fc"}[v%3], "#f0f9ff")
	fmt.Fprintf(b, `<circle cx="%d" cy="%d" r="22" fill="#fef08a"/>`+"\n", r.in(40, 280), r.in(40, 90))
	fmt.Fprintf(b, `<rect y="150" width="%d" height="90" fill="#0369a1"/>`+"\n", width)
	for y := 165; y < 240; y += 16 {
		fmt.Fprintf(b, `<path d="M0 %d q20 -6 40 0 t40 0 t40 0 t40 0 t40 0 t40 0 t40 0 t40 0" fill="none" stroke="#7dd3fc" stroke-width="2" opacity=".7"/>`+"\n", y)
	}
	for k := 0; k < 1+v%2; k++ {
		x := r.in(40, 240)
		fmt.Fprintf(b, `<g><path d="M%d 150 h70 l-12 18 h-46z" fill="%s"/><path d="M%d 148 V92 L%d 146Z" fill="#fff"/><rect x="%d" y="90" width="3" height="60" fill="#78350f"/></g>`+"\n",
			x, r.pick([]string{"#b91c1c", "#1e293b", "#ca8a04"}), x+36, x+70, x+34)
	}
	fmt.Fprintf(b, `<path d="M%d 200 q10 -9 22 0 q-10 9 -22 0z m22 0 l8 -6 v12z" fill="#fb7185"/>`+"\n", r.in(30, 260))
}

func stillLife(b *strings.Builder, r *rng, v int) {
	fmt.Fprintf(b, `<rect width="%d" height="%d" fill="%s"/><rect y="160" width="%d" height="80" fill="#a16207"/>`+"\n", width, height, []string{"#fef3c7", "#e0e7ff", "#fce7f3"}[v%3], width)
	fmt.Fprintf(b, `<path d="M90 160 Q160 215 230 160Z" fill="#0ea5e9"/>`+"\n")
	fruit := []string{"#dc2626", "#f97316", "#facc15", "#65a30d", "#7c3aed"}
	for k := 0; k < 4; k++ {
		fmt.Fprintf(b, `<circle cx="%d" cy="%d" r="%d" fill="%s"/>`, 110+k*32+r.in(-6, 6), 148+r.in(-8, 4), r.in(14, 20), r.pick(fruit))
	}
	b.WriteString("\n")
	fmt.Fprintf(b, `<rect x="%d" y="90" width="26" height="72" rx="6" fill="#059669" fill-opacity=".85"/><rect x="%d" y="76" width="10" height="16" fill="#064e3b"/>`+"\n", 250+r.in(0, 20), 258+r.in(0, 20))
}

func night(b *strings.Builder, r *rng, v int) {
	sky(b, "s", "#0f172a", "#312e81")
	for k := 0; k < 26; k++ {
		fmt.Fprintf(b, `<circle cx="%d" cy="%d" r="%d" fill="#fff" fill-opacity=".8"/>`, r.in(0, 320), r.in(0, 140), r.in(1, 2))
	}
	b.WriteString("\n")
	mx, my := r.in(200, 290), r.in(30, 60)
	fmt.Fprintf(b, `<circle cx="%d" cy="%d" r="18" fill="#fef9c3"/><circle cx="%d" cy="%d" r="16" fill="#1e1b4b"/>`+"\n", mx, my, mx+8, my-5)
	fmt.Fprintf(b, `<rect y="200" width="%d" height="40" fill="#1e293b"/>`+"\n", width)
	for x := 10 + v*6; x < 300; x += r.in(62, 90) {
		fmt.Fprintf(b, `<g><rect x="%d" y="160" width="48" height="40" fill="#475569"/><path d="M%d 160 L%d 134 L%d 160Z" fill="#7f1d1d"/><rect x="%d" y="170" width="12" height="12" fill="#fde047"/><rect x="%d" y="176" width="10" height="24" fill="#0f172a"/></g>`+"\n",
			x, x-4, x+24, x+52, x+8, x+30)
	}
}
