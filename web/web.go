// Package web holds filelock's browser side, embedded in the server binary:
// the labeling demo page (index.html and static/), the browser client
// filelock.js, and the sample images of the demo project.
package web

import (
	"embed"
	"io/fs"
)

//go:generate go run gen_samples.go

//go:embed index.html filelock.js static
var files embed.FS

// Files is the embedded tree: index.html and filelock.js at the root, the
// page's assets (app.js, app.css, samples/, vendor/) under static/.
func Files() fs.FS { return files }
