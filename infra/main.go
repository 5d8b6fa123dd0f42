// Command infra is txpipe's AWS CDK app: one stack per environment suffix,
// synthesized with cdk synth (or go run . with CDK_OUTDIR set).
//
// The environment suffix comes from the CDK context (cdk synth -c env=prod),
// else from ENVIRONMENT_SUFFIX, else it is dev.
package main

import (
	"fmt"
	"os"
	"strconv"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/jsii-runtime-go"
)

func main() {
	defer jsii.Close()
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "infra:", err)
		os.Exit(1)
	}
}

func run() error {
	app := awscdk.NewApp(nil)
	cfg := Config{
		Env:        contextOr(app, "env", os.Getenv("ENVIRONMENT_SUFFIX"), "dev"),
		CostCenter: contextOr(app, "costCenter", os.Getenv("COST_CENTER"), application),
		RepoRoot:   contextOr(app, "repoRoot", "", ".."),
	}
	// Per-environment settings (docs/deploy.md): -c logRetentionDays=30
	// -c transformerConcurrency=20 -c apiGatewayAccount=true -c runbookUrl=...
	var err error
	if cfg.LogRetentionDays, err = contextInt(app, "logRetentionDays"); err != nil {
		return err
	}
	if cfg.TransformerConcurrency, err = contextInt(app, "transformerConcurrency"); err != nil {
		return err
	}
	switch v := contextOr(app, "apiGatewayAccount", "false"); v {
	case "true", "false":
		cfg.APIGatewayAccount = v == "true"
	default:
		return fmt.Errorf("context apiGatewayAccount=%q: want true or false", v)
	}
	cfg.Alarms.RunbookURL = contextOr(app, "runbookUrl", "")
	if _, err := Build(app, cfg); err != nil {
		return err
	}
	app.Synth(nil)
	return nil
}

// contextInt returns the app's context value key as an integer, 0 if unset.
func contextInt(app awscdk.App, key string) (int, error) {
	switch v := app.Node().TryGetContext(jsii.String(key)).(type) {
	case nil:
		return 0, nil
	case float64:
		return int(v), nil
	case string:
		n, err := strconv.Atoi(v)
		if err != nil {
			return 0, fmt.Errorf("context %s=%q: want an integer", key, v)
		}
		return n, nil
	default:
		return 0, fmt.Errorf("context %s=%v: want an integer", key, v)
	}
}

// contextOr returns the app's context value key, else the first non-empty
// fallback.
func contextOr(app awscdk.App, key string, fallbacks ...string) string {
	if v, ok := app.Node().TryGetContext(jsii.String(key)).(string); ok && v != "" {
		return v
	}
	for _, f := range fallbacks {
		if f != "" {
			return f
		}
	}
	return ""
}
