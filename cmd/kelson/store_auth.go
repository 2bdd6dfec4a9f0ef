package main

import (
	"time"

	"github.com/kelson-dev/kelson/raftnode/auth"
	"github.com/spf13/pflag"
)

// authFlags are etcd's authentication flags of a store member.
type authFlags struct {
	tokenTTL uint // seconds
}

// bindAuth adds --auth-token, --auth-token-ttl and --bcrypt-cost, with
// etcd's defaults, onto c.
func (a *authFlags) bind(f *pflag.FlagSet, c *auth.Options) {
	f.StringVar(&c.Token, "auth-token", "simple", `kind of auth tokens: "simple", or "jwt,pub-key=FILE,priv-key=FILE,sign-method=RS256[,ttl=5m]" (sign-method: HS256/384/512, RS256/384/512, PS256/384/512, ES256/384/512, EdDSA)`)
	f.UintVar(&a.tokenTTL, "auth-token-ttl", uint(auth.DefaultTokenTTL/time.Second), "seconds a simple token lives unused")
	f.IntVar(&c.BcryptCost, "bcrypt-cost", 10, "bcrypt cost of hashing passwords (4..31)")
}

// apply puts what the flags say into c.
func (a *authFlags) apply(c *auth.Options) {
	c.TokenTTL = time.Duration(a.tokenTTL) * time.Second
}
