package auth

import (
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/gin-gonic/gin"

	"filelock"
)

func TestMiddleware(t *testing.T) {
	v := mustNew(t, Config{Mode: "jwt", Secret: testSecret})
	gin.SetMode(gin.ReleaseMode)
	e := gin.New()
	e.Use(v.Middleware(func(c *gin.Context, err error) {
		c.JSON(http.StatusUnauthorized, gin.H{"code": filelock.ErrorCode(err)})
	}))
	e.GET("/who", func(c *gin.Context) {
		id, ok := FromContext(c.Request.Context())
		if !ok {
			c.String(http.StatusInternalServerError, "no identity")
			return
		}
		c.String(http.StatusOK, id.User)
	})
	srv := httptest.NewServer(e)
	defer srv.Close()

	get := func(hdr string) (int, string) {
		req, _ := http.NewRequest("GET", srv.URL+"/who", nil)
		if hdr != "" {
			req.Header.Set("Authorization", hdr)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := get("Bearer " + mustMint(t, testSecret, "user7", nil, false, time.Minute)); code != 200 || body != "user7" {
		t.Errorf("with token: %d %q", code, body)
	}
	if code, body := get(""); code != 401 || body != `{"code":"unauthorized"}` {
		t.Errorf("without token: %d %q", code, body)
	}
	if _, ok := FromContext(t.Context()); ok {
		t.Error("FromContext of a bare context")
	}
}
