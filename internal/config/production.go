package config

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"unicode"
)

// LiveStripeKey reports whether key moves real money (a live secret or restricted key).
func LiveStripeKey(key string) bool {
	return strings.HasPrefix(key, "sk_live_") || strings.HasPrefix(key, "rk_live_")
}

// repositoryValues are secret values that appear in this repository (examples, compose,
// tests, documentation). Anyone can read them, so a production node refuses them even
// when they look strong. TestRepositorySecretsRefused keeps the list complete.
var repositoryValues = []string{
	"dev-api-key-change-me-0123456789",
	"compose-playback-secret-0123456789abcdef",
	"compose-viewer-jwt-secret-0123456789abcdef",
	"change-me-to-a-long-random-secret",
	"change-me-32-bytes-shared-by-every-node",
	"change-me-platform-shared-secret-32-bytes",
	"test-operator-key-0123456789",
	"alice-operator-key-0123456789",
	"e2e-playback-secret-0123456789abcdef",
	"0123456789abcdef0123",
	"0123456789abcdef0123456789abcdef",
	"fedcba9876543210fedcba9876543210",
	"sk_test_compose", "whsec_compose", "sk_test_livegate", "whsec_livegate_test_secret",
}

// placeholderWords mark a value someone meant to replace.
var placeholderWords = []string{"changeme", "example", "placeholder", "replace", "secret", "password", "xxxx", "..."}

// secretProblem says why value cannot be a production secret, or "" when it can. min is
// the shortest acceptable length; strong asks for variety (random keys and secrets, not
// Stripe's prefixed identifiers, whose randomness Stripe guarantees).
func secretProblem(value string, min int, strong bool) string {
	if value == "" {
		return "is not set"
	}
	for _, v := range repositoryValues {
		if value == v {
			return "is a value published in the livegate repository"
		}
	}
	folded := strings.NewReplacer("-", "", "_", "", " ", "").Replace(strings.ToLower(value))
	for _, w := range placeholderWords {
		// Stripe's own prefixes (whsec_) contain "sec", never a whole placeholder word.
		if strings.Contains(folded, w) {
			return fmt.Sprintf("looks like a placeholder (contains %q)", w)
		}
	}
	if len(value) < min {
		return fmt.Sprintf("is %d characters; at least %d are needed", len(value), min)
	}
	if !strong {
		return ""
	}
	distinct := map[rune]bool{}
	var lower, upper, digit, other bool
	for _, r := range value {
		distinct[r] = true
		switch {
		case unicode.IsLower(r):
			lower = true
		case unicode.IsUpper(r):
			upper = true
		case unicode.IsDigit(r):
			digit = true
		default:
			other = true
		}
	}
	classes := 0
	for _, b := range []bool{lower, upper, digit, other} {
		if b {
			classes++
		}
	}
	if len(distinct) < 12 || classes < 2 {
		return "is too weak: use a random value (e.g. `openssl rand -hex 32`) with at least 12 different characters of two or more kinds"
	}
	if sequential(value) {
		return "is too weak: it is mostly a run of consecutive characters"
	}
	return ""
}

// sequential catches "0123456789abcdef..."-style values: most neighbours one apart.
func sequential(v string) bool {
	steps := 0
	for i := 1; i < len(v); i++ {
		if d := int(v[i]) - int(v[i-1]); d == 1 || d == -1 {
			steps++
		}
	}
	return steps*2 > len(v)
}

// productionErrors lists what keeps a node from running with --production: every
// development default refused, every secret checked for being set, unpublished and strong.
func (c Config) productionErrors() []error {
	var errs []error
	check := func(flag, value string, min int, strong bool) {
		if p := secretProblem(value, min, strong); p != "" {
			errs = append(errs, fmt.Errorf("--production: %s %s", flag, p))
		}
	}
	if c.StripeSecretKey == "" {
		errs = append(errs, errors.New("--production refuses the development checkout: set STRIPE_SECRET_KEY"))
	} else {
		check("STRIPE_SECRET_KEY", c.StripeSecretKey, 12, false)
	}
	// An endpoint's signing secret is whatever the operator pasted: Stripe's are whsec_
	// and some 32 random characters, so anything shorter or plainer was typed by hand,
	// and whoever guesses it can grant themselves tickets.
	webhookSecret := func(flag, value string) {
		rest, ok := strings.CutPrefix(value, "whsec_")
		if !ok {
			errs = append(errs, fmt.Errorf("--production: %s is not a Stripe endpoint signing secret (whsec_...)", flag))
			return
		}
		if p := secretProblem(rest, 24, true); p != "" {
			errs = append(errs, fmt.Errorf("--production: %s after its whsec_ prefix %s", flag, p))
		}
	}
	if c.StripeWebhookSecret == "" {
		errs = append(errs, errors.New("--production needs STRIPE_WEBHOOK_SECRET to accept Stripe webhooks"))
	} else {
		webhookSecret("STRIPE_WEBHOOK_SECRET", c.StripeWebhookSecret)
	}
	if c.StripeConnectWebhookSecret != "" {
		webhookSecret("STRIPE_CONNECT_WEBHOOK_SECRET", c.StripeConnectWebhookSecret)
	}
	if c.RecordingsS3.Bucket != "" {
		check("--recordings-s3-secret-key", c.RecordingsS3.SecretKey, 16, true)
	}
	if c.PlaybackSecret == "" {
		errs = append(errs, errors.New("--production needs a --playback-secret of 32+ bytes shared by every node"))
	} else {
		check("--playback-secret", c.PlaybackSecret, 32, true)
	}
	switch {
	case c.ViewerJWTSecret == "" && c.ViewerJWTPublicKey == "":
		errs = append(errs, errors.New("--production needs --viewer-jwt-secret or --viewer-jwt-public-key"))
	case c.ViewerJWTSecret != "":
		check("--viewer-jwt-secret", c.ViewerJWTSecret, 32, true)
	}
	if c.APIKey == "" {
		errs = append(errs, errors.New("--production needs --api-key of at least 16 characters"))
	} else {
		check("--api-key", c.APIKey, 16, true)
	}
	keys, _ := c.OperatorKeyMap() // malformed entries are Validate's to report
	for _, name := range slices.Sorted(maps.Keys(keys)) {
		check("--operator-keys "+name, keys[name], 16, true)
	}
	if c.RedisURL != "" && c.SQLite() {
		errs = append(errs, errors.New("--production: a fleet (--redis-url) needs --database-url postgres://...: on SQLite every node would keep a ledger of its own"))
	}
	if c.TURN.On() {
		check("--turn-secret", c.TURN.Secret, 32, true)
	}
	if c.PlaybackSecret != "" && (c.PlaybackSecret == c.ViewerJWTSecret || c.PlaybackSecret == c.APIKey) {
		errs = append(errs, errors.New("--production: --playback-secret must differ from the API key and the viewer JWT secret"))
	}
	return errs
}

// DevelopmentDefaults names every development default this configuration leaves in
// force. A production node has none; a bare `livegate` has them all. The node logs them
// at start and lists them on GET /.
func (c Config) DevelopmentDefaults() []string {
	var d []string
	if c.APIKey == "" && len(c.OperatorKeys) == 0 {
		d = append(d, "no --api-key: the /v1 operator API is open to anyone")
	}
	switch {
	case c.ViewerJWTSecret != "" || c.ViewerJWTPublicKey != "":
	case c.StripeSecretKey != "":
		// No door next to real money: nobody mints viewer tokens here.
		d = append(d, "no --viewer-jwt-secret or --viewer-jwt-public-key: viewer tokens are signed with a secret this node made, and none are minted (a Stripe key is set)")
	case c.RedisURL != "":
		d = append(d, "viewer tokens signed with a development secret the fleet keeps in Redis: /dev/login and /v1/admin/dev/tokens mint them")
	default:
		d = append(d, "viewer tokens signed with a secret this node made: /dev/login and /v1/admin/dev/tokens mint them")
	}
	if c.StripeSecretKey == "" {
		d = append(d, "no STRIPE_SECRET_KEY: purchases use the development checkout at /dev/checkout, no money moves")
	}
	switch {
	case c.PlaybackSecret != "":
	case c.RedisURL != "":
		d = append(d, "playback tokens and relays signed with a development secret the fleet keeps in Redis")
	default:
		d = append(d, "playback tokens signed with a secret this node made: valid on this node only")
	}
	if len(c.RemoteNetworks) == 0 && !c.Production {
		d = append(d, "no --remote-networks: media may be sent to any address, private ones included")
	}
	switch {
	case c.DatabaseURL == "":
		d = append(d, "durable data in SQLite under "+c.DataDir)
	case c.SQLite():
		d = append(d, "durable data in SQLite at "+strings.TrimPrefix(c.DatabaseURL, "sqlite:"))
	}
	if c.RedisURL == "" {
		d = append(d, "viewer sessions in process: single node only")
	}
	return d
}
