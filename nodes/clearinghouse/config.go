package clearinghouse

import (
	"fmt"
	"path/filepath"
	"strconv"
	"time"

	"github.com/qoslab/qoslab/nodes"
	"github.com/qoslab/qoslab/nodes/authz"
	"github.com/qoslab/qoslab/protocol/osp"
)

// config is the clearinghouse's parsed parameters (see the package
// comment).
type config struct {
	port        int
	tls         bool
	keyLog      string // "" = none
	tokenTTL    time.Duration
	maxDuration int64
	policy      *authz.Policy
	routes      map[string][]string // callee node -> proxy nodes (param routes)
	pkiDir      string
}

func parseConfig(env nodes.Env) (config, error) {
	c := config{pkiDir: filepath.Join(env.LabDir, "pki")}
	var err error
	if c.port, err = strconv.Atoi(env.Param("port", strconv.Itoa(osp.DefaultPort))); err != nil || c.port < 0 || c.port > 65535 {
		return c, fmt.Errorf("clearinghouse: parameter port=%q: want a TCP port", env.Param("port", ""))
	}
	switch v := env.Param("tls", "off"); v {
	case "on":
		c.tls = true
	case "off":
	default:
		return c, fmt.Errorf("clearinghouse: parameter tls=%q: want on or off", v)
	}
	if c.tls {
		switch v := env.Param("keylog", ""); v {
		case "off":
		case "":
			c.keyLog = filepath.Join(env.Dir, "tls-keylog.txt")
		default:
			c.keyLog = v
			if !filepath.IsAbs(v) {
				c.keyLog = filepath.Join(env.Dir, v)
			}
		}
	}
	if c.tokenTTL, err = env.DurationParam("token_ttl", 10*time.Minute); err != nil {
		return c, fmt.Errorf("clearinghouse: %w", err)
	}
	if c.tokenTTL <= 0 {
		return c, fmt.Errorf("clearinghouse: parameter token_ttl must be positive")
	}
	if c.maxDuration, err = strconv.ParseInt(env.Param("max_duration", "14400"), 10, 64); err != nil || c.maxDuration <= 0 {
		return c, fmt.Errorf("clearinghouse: parameter max_duration=%q: want seconds", env.Param("max_duration", ""))
	}
	if c.policy, err = authz.FromParams(env.Params); err != nil {
		return c, fmt.Errorf("clearinghouse: %w", err)
	}
	if c.routes, err = parseRoutes(env.Param("routes", ""), env.Nodes); err != nil {
		return c, fmt.Errorf("clearinghouse: parameter %w", err)
	}
	return c, nil
}
