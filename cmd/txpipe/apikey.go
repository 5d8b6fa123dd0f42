package main

import (
	"fmt"
	"math"

	"github.com/spf13/cobra"

	"github.com/txpipe/txpipe"
	"github.com/txpipe/txpipe/httpapi"
)

func init() { commands = append(commands, newAPIKeyCmd) }

func newAPIKeyCmd() *cobra.Command {
	create := &cobra.Command{
		Use:   "create --name NAME [--quota-per-day 1000] [--rate-per-second 10] [--admin] [--tenant NAME] [--data-dir DIR] [--json]",
		Short: "Create an API key in the local store and print it",
		Long: `Creates an API key in the local store of the data dir and prints it. The key
is shown only once: only its hash is stored.`,
		Args: wantArgs(0, ""),
	}
	name := create.Flags().String("name", "", "the key's name (required)")
	quota := create.Flags().Int64("quota-per-day", httpapi.DefaultQuotaPerDay, "requests a day (UTC)")
	rate := create.Flags().Float64("rate-per-second", httpapi.DefaultRatePerSecond, "requests a second, with bursts of twice as many")
	admin := create.Flags().Bool("admin", false, "an admin key, which may also manage keys (the console's Keys page, /keys)")
	tenant := create.Flags().String("tenant", txpipe.DefaultTenant, "the tenant whose files and transactions the key reads and writes (a-z, 0-9, _ and -)")
	jsonOut := create.Flags().Bool("json", false, "print JSON")
	addDataDirFlag(create, "the local data dir")
	create.RunE = func(cmd *cobra.Command, _ []string) error {
		switch {
		case *name == "":
			return usageErrorf("--name is required")
		case *quota < 1:
			return usageErrorf("--quota-per-day must be at least 1")
		case !(*rate > 0) || math.IsInf(*rate, 0):
			return usageErrorf("--rate-per-second must be above 0")
		case txpipe.CheckTenant(*tenant) != nil:
			return usageErrorf("--tenant: %s", txpipe.ErrorMessage(txpipe.CheckTenant(*tenant)))
		}
		db, err := openLocalStore(cmd)
		if err != nil {
			return err
		}
		role := txpipe.RoleUser
		if *admin {
			role = txpipe.RoleAdmin
		}
		secret, _, err := httpapi.CreateTenantKey(cmd.Context(), db, *name, *quota, *rate, role, *tenant)
		if cerr := db.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("close database: %w", cerr)
		}
		if err != nil {
			return err
		}
		if *jsonOut {
			return printJSON(cmd.OutOrStdout(), struct {
				Name        string `json:"name"`
				APIKey      string `json:"api_key"`
				QuotaPerDay int64  `json:"quota_per_day"`
				Tenant      string `json:"tenant"`
			}{*name, secret, *quota, *tenant})
		}
		fmt.Fprintf(cmd.OutOrStdout(), "%s\n", secret)
		fmt.Fprintf(cmd.ErrOrStderr(), "created API key %q of tenant %q (%d requests a day, %g a second); it is shown only once\n", *name, *tenant, *quota, *rate)
		return nil
	}
	return group("apikey", "Manage API keys", create, newAPIKeyTenantCmd())
}

// newAPIKeyTenantCmd is `txpipe apikey tenant`: on AWS, record the tenant of
// an API Gateway key (its id) in the status table.
func newAPIKeyTenantCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "tenant --aws KEY_ID --tenant NAME [--admin] [--json]",
		Short: "Record the tenant of an API Gateway key (AWS)",
		Long: `Records in the status table named by $TXPIPE_STATUS_TABLE that the API Gateway
key with id KEY_ID (aws apigateway get-api-keys shows it) belongs to a tenant,
and whether it is an admin key. A key without a record is the default
tenant's. Local keys get their tenant from "txpipe apikey create --tenant".`,
		Args: wantArgs(1, "KEY_ID"),
	}
	onAWS := cmd.Flags().Bool("aws", false, "the AWS status table (required: local keys carry their tenant)")
	tenant := cmd.Flags().String("tenant", "", "the tenant (a-z, 0-9, _ and -)")
	admin := cmd.Flags().Bool("admin", false, "an admin key: it reads every tenant")
	jsonOut := cmd.Flags().Bool("json", false, "print JSON")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		switch {
		case !*onAWS:
			return usageErrorf("apikey tenant records API Gateway keys: pass --aws (local keys: apikey create --tenant)")
		case txpipe.CheckTenant(*tenant) != nil:
			return usageErrorf("--tenant: %s", txpipe.ErrorMessage(txpipe.CheckTenant(*tenant)))
		}
		role := txpipe.RoleUser
		if *admin {
			role = txpipe.RoleAdmin
		}
		statuses, err := awsStatusStore(cmd.Context())
		if err != nil {
			return err
		}
		if err := statuses.PutKeyTenant(cmd.Context(), args[0], *tenant, role); err != nil {
			return err
		}
		if *jsonOut {
			return printJSON(cmd.OutOrStdout(), map[string]string{"key_id": args[0], "tenant": *tenant, "role": role})
		}
		fmt.Fprintf(cmd.OutOrStdout(), "API key %s: tenant %s%s\n", args[0], *tenant, map[bool]string{true: ", admin"}[*admin])
		return nil
	}
	return cmd
}
