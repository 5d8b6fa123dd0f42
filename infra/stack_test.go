package main

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/jsii-runtime-go"

	"github.com/txpipe/txpipe/internal/awsnames"
	"github.com/txpipe/txpipe/workflow"
)

// TestMain stops the jsii runtime (a node process) after the tests.
func TestMain(m *testing.M) {
	code := m.Run()
	jsii.Close()
	os.Exit(code)
}

// synthesized is a stack synthesized once for a test and its subtests.
type synthesized struct {
	stack  *Stack
	tpl    assertions.Template
	doc    template
	outdir string
}

// template is the CloudFormation template, decoded.
type template struct {
	Resources map[string]resource
	Outputs   map[string]struct {
		Value       any
		Description string
	}
}

type resource struct {
	Type           string
	Metadata       map[string]any
	Properties     map[string]any
	DeletionPolicy string
	DependsOn      any
}

// synth synthesizes the stack of env with the cdk-nag checks, as cdk synth
// does, into a temporary cloud assembly.
func synth(t *testing.T, env string) *synthesized {
	t.Helper()
	return synthConfig(t, Config{Env: env})
}

// synthConfig is synth with more of the configuration than the
// environment suffix.
func synthConfig(t *testing.T, cfg Config) *synthesized {
	t.Helper()
	outdir := t.TempDir()
	app := awscdk.NewApp(&awscdk.AppProps{Outdir: jsii.String(outdir)})
	cfg.RepoRoot = ".."
	s, err := Build(app, cfg)
	if err != nil {
		t.Fatalf("Build: %v", err)
	}
	app.Synth(nil)
	tpl := assertions.Template_FromStack(s.Stack, nil)
	b, err := json.Marshal(tpl.ToJSON())
	if err != nil {
		t.Fatal(err)
	}
	var doc template
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	return &synthesized{stack: s, tpl: tpl, doc: doc, outdir: outdir}
}

// match runs an assertion of the CDK assertions library, which panics on a
// mismatch, and reports the mismatch as a test error.
func match(t *testing.T, what string, assert func()) {
	t.Helper()
	defer func() {
		if r := recover(); r != nil {
			t.Errorf("%s: %v", what, r)
		}
	}()
	assert()
}

// ofType returns the resources of a type by logical ID.
func (s *synthesized) ofType(typ string) map[string]resource {
	m := map[string]resource{}
	for id, r := range s.doc.Resources {
		if r.Type == typ {
			m[id] = r
		}
	}
	return m
}

// one returns the only resource of typ whose property key is value.
func (s *synthesized) one(t *testing.T, typ, key string, value any) (string, resource) {
	t.Helper()
	var ids []string
	for id, r := range s.ofType(typ) {
		if jsonEqual(r.Properties[key], value) {
			ids = append(ids, id)
		}
	}
	if len(ids) != 1 {
		t.Fatalf("%d resources %s with %s = %v, want 1", len(ids), typ, key, value)
	}
	return ids[0], s.doc.Resources[ids[0]]
}

func jsonEqual(a, b any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return string(x) == string(y)
}

var hashSuffix = regexp.MustCompile(`^(.+?)[0-9A-F]{8}$`)

// name is a logical ID without the hash CDK appends.
func name(logicalID string) string {
	if m := hashSuffix.FindStringSubmatch(logicalID); m != nil {
		return m[1]
	}
	return logicalID
}

// render writes a CloudFormation value as a string, the way cdk-nag does:
// {"Fn::GetAtt": ["TableXXXXXXXX", "Arn"]} is <Table.Arn>, {"Ref": "X"} is
// <X>, Fn::Join is concatenated; other values are JSON with their
// references rendered so.
func render(v any) string {
	switch r := resolve(v).(type) {
	case string:
		return r
	default:
		var b strings.Builder
		enc := json.NewEncoder(&b)
		enc.SetEscapeHTML(false)
		_ = enc.Encode(r)
		return strings.TrimSuffix(b.String(), "\n")
	}
}

func resolve(v any) any {
	switch v := v.(type) {
	case map[string]any:
		if ref, ok := v["Ref"].(string); ok && len(v) == 1 {
			return "<" + name(ref) + ">"
		}
		if ga, ok := v["Fn::GetAtt"].([]any); ok && len(ga) == 2 && len(v) == 1 {
			return fmt.Sprintf("<%s.%s>", name(ga[0].(string)), ga[1])
		}
		if j, ok := v["Fn::Join"].([]any); ok && len(j) == 2 && len(v) == 1 {
			var parts []string
			for _, p := range j[1].([]any) {
				parts = append(parts, render(p))
			}
			return strings.Join(parts, j[0].(string))
		}
		m := make(map[string]any, len(v))
		for k, x := range v {
			m[k] = resolve(x)
		}
		return m
	case []any:
		a := make([]any, len(v))
		for i, x := range v {
			a[i] = resolve(x)
		}
		return a
	}
	return v
}

func strs(v any) []string {
	switch v := v.(type) {
	case []any:
		var out []string
		for _, x := range v {
			out = append(out, render(x))
		}
		return out
	case nil:
		return nil
	}
	return []string{render(v)}
}

// TestStack synthesizes the dev stack once and checks each requirement of
// the issue in a subtest.
func TestStack(t *testing.T) {
	s := synth(t, "dev")
	def := workflow.Pipeline()

	t.Run("OneARM64ImageForThreeFunctions", func(t *testing.T) {
		fns := s.ofType("AWS::Lambda::Function")
		if len(fns) != 3 {
			t.Fatalf("%d functions, want 3", len(fns))
		}
		images := map[string]bool{}
		commands := map[string]string{}
		for id, fn := range fns {
			p := fn.Properties
			if p["PackageType"] != "Image" {
				t.Errorf("%s: PackageType = %v, want Image", id, p["PackageType"])
			}
			if got := strs(p["Architectures"]); !slices.Equal(got, []string{"arm64"}) {
				t.Errorf("%s: Architectures = %v, want [arm64]", id, got)
			}
			images[render(p["Code"].(map[string]any)["ImageUri"])] = true
			cfg, _ := p["ImageConfig"].(map[string]any)
			commands[p["FunctionName"].(string)] = strings.Join(strs(cfg["Command"]), " ")
		}
		if len(images) != 1 {
			t.Errorf("the functions use %d images, want 1: %v", len(images), images)
		}
		want := map[string]string{
			"csv-validator-dev":       "validator",
			"data-transformer-dev":    "transformer",
			"notification-sender-dev": "notifier",
		}
		for fn, cmd := range want {
			if commands[fn] != cmd {
				t.Errorf("%s: image command %q, want %q", fn, commands[fn], cmd)
			}
		}

		// The cloud assembly builds one image, for linux/arm64, from the
		// repository's Dockerfile.
		var assets struct {
			DockerImages map[string]struct {
				Source struct {
					Directory      string
					Platform       string
					DockerFile     string
					DockerBuildArg map[string]string
				}
			}
		}
		readJSON(t, filepath.Join(s.outdir, *s.stack.StackName()+".assets.json"), &assets)
		if len(assets.DockerImages) != 1 {
			t.Fatalf("%d docker image assets, want 1", len(assets.DockerImages))
		}
		for hash, img := range assets.DockerImages {
			if img.Source.Platform != "linux/arm64" {
				t.Errorf("image asset platform = %q, want linux/arm64", img.Source.Platform)
			}
			if !strings.Contains(render(images), hash) {
				t.Errorf("functions use %v, not the image asset %s", images, hash)
			}
			dir := filepath.Join(s.outdir, img.Source.Directory)
			if _, err := os.Stat(filepath.Join(dir, "Dockerfile")); err != nil {
				t.Errorf("staged image context has no Dockerfile: %v", err)
			}
			for _, excluded := range []string{"node_modules", "infra", ".git"} {
				if _, err := os.Stat(filepath.Join(dir, excluded)); err == nil {
					t.Errorf("staged image context holds %s", excluded)
				}
			}
			if _, err := os.Stat(filepath.Join(dir, "go.mod")); err != nil {
				t.Errorf("staged image context lacks the module's go.mod: %v", err)
			}
		}
	})

	t.Run("FunctionSettings", func(t *testing.T) {
		// Strictly below every task that invokes the function.
		want := map[string]time.Duration{
			"csv-validator-dev":       workflow.FunctionTimeout(def, workflow.FunctionValidator),
			"data-transformer-dev":    workflow.FunctionTimeout(def, workflow.FunctionTransformer),
			"notification-sender-dev": workflow.FunctionTimeout(def, workflow.FunctionNotifier),
		}
		for fnName, timeout := range want {
			_, fn := s.one(t, "AWS::Lambda::Function", "FunctionName", fnName)
			p := fn.Properties
			if got := p["MemorySize"]; got != 512.0 {
				t.Errorf("%s: MemorySize = %v, want 512", fnName, got)
			}
			if got, want := p["Timeout"], timeout.Seconds(); got != want {
				t.Errorf("%s: Timeout = %v, want %v", fnName, got, want)
			}
			if got := p["Timeout"].(float64); got > 900 {
				t.Errorf("%s: Timeout %vs is longer than Lambda's 15 minutes", fnName, got)
			}
			if got := render(p["TracingConfig"]); got != `{"Mode":"Active"}` {
				t.Errorf("%s: TracingConfig = %s, want Active", fnName, got)
			}
			// Its own log group, /aws/lambda/<name>, kept 7 days.
			lc, _ := p["LoggingConfig"].(map[string]any)
			ref := lc["LogGroup"].(map[string]any)["Ref"]
			lg, ok := s.doc.Resources[fmt.Sprint(ref)]
			if !ok || lg.Type != "AWS::Logs::LogGroup" {
				t.Fatalf("%s: LoggingConfig.LogGroup = %v, not a log group of the stack", fnName, lc["LogGroup"])
			}
			if got, want := lg.Properties["LogGroupName"], "/aws/lambda/"+fnName; got != want {
				t.Errorf("%s: log group %v, want %s", fnName, got, want)
			}
			if got := lg.Properties["RetentionInDays"]; got != 7.0 {
				t.Errorf("%s: log retention %v days, want 7", fnName, got)
			}
		}
	})

	t.Run("FunctionEnvironment", func(t *testing.T) {
		tables := map[string]string{}
		for id, r := range s.ofType("AWS::DynamoDB::Table") {
			tables[r.Properties["TableName"].(string)] = name(id)
		}
		// The runtime's names (internal/awsnames), as the Lambda bootstrap
		// and txpipe serve --aws read them.
		common := map[string]string{
			awsnames.EnvTransactionsTable: "<" + tables[awsnames.TransactionsTablePrefix+"dev"] + ">",
			awsnames.EnvStatusTable:       "<" + tables[awsnames.StatusTablePrefix+"dev"] + ">",
			awsnames.EnvBucket:            "<UploadsBucket>",
			awsnames.EnvTopicARN:          "<ResultsTopic>",
			awsnames.EnvTimeShards:        "8",
			"GOMEMLIMIT":                  "448MiB",
		}
		for _, fnName := range []string{"csv-validator-dev", "data-transformer-dev", "notification-sender-dev"} {
			_, fn := s.one(t, "AWS::Lambda::Function", "FunctionName", fnName)
			vars := fn.Properties["Environment"].(map[string]any)["Variables"].(map[string]any)
			want := maps.Clone(common)
			if fnName == "csv-validator-dev" {
				want[awsnames.EnvStateMachineARN] = "arn:<AWS::Partition>:states:<AWS::Region>:<AWS::AccountId>:stateMachine:txpipe-dev"
				want[EnvPresignRoleARN] = "<UploadPresignRole.Arn>"
				want[awsnames.EnvDLQURL] = "<DeadLetterQueue>" // the console's /dlq
			}
			got := map[string]string{}
			for k, v := range vars {
				got[k] = render(v)
			}
			if !jsonEqual(got, want) {
				t.Errorf("%s: environment\n got %v\nwant %v", fnName, got, want)
			}
			// Every variable the function's handler requires at start.
			handler := strs(fn.Properties["ImageConfig"].(map[string]any)["Command"])[0]
			required := awsnames.FunctionEnv(handler)
			if required == nil {
				t.Errorf("%s: handler %q has no required environment in awsnames", fnName, handler)
			}
			for _, v := range required {
				if _, ok := got[v]; !ok {
					t.Errorf("%s: %s is not set; the %s handler refuses to start without it", fnName, v, handler)
				}
			}
		}
	})

	t.Run("TableKeysAreTheRuntimes", func(t *testing.T) {
		type index struct{ name, hash, sort string }
		want := map[string]struct {
			key   string
			index index
		}{
			awsnames.TransactionsTablePrefix + "dev": {awsnames.TxKey, index{awsnames.TimeIndex, awsnames.TimeBucketKey, awsnames.TimeSortKey}},
			awsnames.StatusTablePrefix + "dev":       {awsnames.StatusKey, index{awsnames.CreatedIndex, awsnames.CreatedDayKey, awsnames.CreatedSortKey}},
		}
		keyOf := func(schema any, typ string) string {
			for _, k := range schema.([]any) {
				if m := k.(map[string]any); m["KeyType"] == typ {
					return m["AttributeName"].(string)
				}
			}
			return ""
		}
		for tableName, w := range want {
			_, tb := s.one(t, "AWS::DynamoDB::Table", "TableName", tableName)
			p := tb.Properties
			if got := keyOf(p["KeySchema"], "HASH"); got != w.key {
				t.Errorf("%s: partition key %q, the runtime's is %q", tableName, got, w.key)
			}
			gsis, _ := p["GlobalSecondaryIndexes"].([]any)
			if len(gsis) != 1 {
				t.Fatalf("%s: %d indexes, want 1", tableName, len(gsis))
			}
			g := gsis[0].(map[string]any)
			got := index{g["IndexName"].(string), keyOf(g["KeySchema"], "HASH"), keyOf(g["KeySchema"], "RANGE")}
			if got != w.index {
				t.Errorf("%s: index %+v, the runtime's is %+v", tableName, got, w.index)
			}
		}
	})

	t.Run("StateMachineFromWorkflowDefinition", func(t *testing.T) {
		asl, err := workflow.ASL(def)
		if err != nil {
			t.Fatal(err)
		}
		sms := s.ofType("AWS::StepFunctions::StateMachine")
		if len(sms) != 1 {
			t.Fatalf("%d state machines, want 1", len(sms))
		}
		for id, sm := range sms {
			p := sm.Properties
			if got := p["DefinitionString"]; got != string(asl) {
				t.Errorf("%s: DefinitionString is not workflow.ASL(workflow.Pipeline()):\n%v", id, got)
			}
			// Standard: no 5-minute limit, one execution per name.
			if p["StateMachineType"] != "STANDARD" {
				t.Errorf("%s: StateMachineType = %v, want STANDARD", id, p["StateMachineType"])
			}
			if p["StateMachineName"] != "txpipe-dev" {
				t.Errorf("%s: StateMachineName = %v, want txpipe-dev", id, p["StateMachineName"])
			}
			names, err := workflow.Substitutions(def)
			if err != nil {
				t.Fatal(err)
			}
			subst := map[string]string{}
			for k, v := range p["DefinitionSubstitutions"].(map[string]any) {
				subst[k] = render(v)
			}
			want := map[string]string{
				workflow.SubstValidatorArn:       "<Validator.Arn>",
				workflow.SubstTransformerArn:     "<Transformer.Arn>",
				workflow.SubstNotifierArn:        "<Notifier.Arn>",
				workflow.SubstDeadLetterQueueURL: "<DeadLetterQueue>",
			}
			if len(subst) != len(names) {
				t.Errorf("DefinitionSubstitutions = %v, want exactly %v", subst, names)
			}
			for _, n := range names {
				if subst[n] != want[n] {
					t.Errorf("DefinitionSubstitutions[%s] = %q, want %q", n, subst[n], want[n])
				}
				if !strings.Contains(string(asl), "${"+n+"}") {
					t.Errorf("${%s} is not in the definition", n)
				}
			}
			if got := render(p["TracingConfiguration"]); got != `{"Enabled":true}` {
				t.Errorf("TracingConfiguration = %s, want enabled", got)
			}
			lc := p["LoggingConfiguration"].(map[string]any)
			if lc["Level"] != "ALL" || lc["IncludeExecutionData"] != false {
				t.Errorf("logging Level = %v IncludeExecutionData = %v, want ALL without execution data", lc["Level"], lc["IncludeExecutionData"])
			}
			dest := render(lc["Destinations"])
			lgID := ""
			for lid, r := range s.ofType("AWS::Logs::LogGroup") {
				if strings.Contains(dest, "<"+name(lid)+".Arn>") {
					lgID = lid
					if got := r.Properties["RetentionInDays"]; got != 7.0 {
						t.Errorf("state machine log retention %v days, want 7", got)
					}
				}
			}
			if lgID == "" {
				t.Errorf("logging destination %s is not a log group of the stack", dest)
			}
		}
	})

	t.Run("ApiMethods", func(t *testing.T) {
		_, rest := s.one(t, "AWS::ApiGateway::RestApi", "Name", "txpipe-dev")
		if got := strs(rest.Properties["BinaryMediaTypes"]); !slices.Equal(got, []string{"multipart/form-data", "text/csv"}) {
			t.Errorf("BinaryMediaTypes = %v, want multipart/form-data and text/csv", got)
		}
		paths := map[string]string{} // resource logical ID -> path
		var pathOf func(id string) string
		pathOf = func(id string) string {
			if id == "" {
				return ""
			}
			r := s.doc.Resources[id]
			parent := r.Properties["ParentId"].(map[string]any)
			up := ""
			if ref, ok := parent["Ref"].(string); ok {
				up = pathOf(ref)
			}
			return up + "/" + r.Properties["PathPart"].(string)
		}
		for id := range s.ofType("AWS::ApiGateway::Resource") {
			paths[id] = pathOf(id)
		}
		validators := s.ofType("AWS::ApiGateway::RequestValidator")
		if len(validators) != 1 {
			t.Fatalf("%d request validators, want 1", len(validators))
		}
		for _, v := range validators {
			if v.Properties["ValidateRequestParameters"] != true {
				t.Errorf("request validator does not validate parameters")
			}
		}
		got := map[string]map[string]any{}
		for id, m := range s.ofType("AWS::ApiGateway::Method") {
			p := m.Properties
			path := "/"
			if ref, ok := p["ResourceId"].(map[string]any)["Ref"].(string); ok {
				path = paths[ref]
			}
			route := p["HttpMethod"].(string) + " " + path
			got[route] = p["RequestParameters"].(map[string]any)
			if p["ApiKeyRequired"] != true {
				t.Errorf("%s: ApiKeyRequired = %v, want true", route, p["ApiKeyRequired"])
			}
			if _, ok := validators[name(id)]; ok {
				continue
			}
			if v := render(p["RequestValidatorId"]); !strings.HasPrefix(v, "<ApiRequestValidator") {
				t.Errorf("%s: RequestValidatorId = %s, want the API's request validator", route, v)
			}
			integ := p["Integration"].(map[string]any)
			if integ["Type"] != "AWS_PROXY" || !strings.Contains(render(integ["Uri"]), "<Validator.Arn>") {
				t.Errorf("%s: integration %s %s, want AWS_PROXY to the validator", route, integ["Type"], render(integ["Uri"]))
			}
		}
		want := map[string]map[string]any{
			"POST /upload":            {"method.request.header.Content-Type": true},
			"GET /status/{file_id}":   {"method.request.path.file_id": true},
			"GET /transactions":       {"method.request.querystring.from": true, "method.request.querystring.to": true, "method.request.querystring.limit": false, "method.request.querystring.cursor": false},
			"GET /profiles":           {},
			"GET /profiles/{name}":    {"method.request.path.name": true},
			"PUT /profiles/{name}":    {"method.request.path.name": true},
			"DELETE /profiles/{name}": {"method.request.path.name": true},
			// The console's paths.
			"GET /whoami": {},
			"GET /files": {"method.request.querystring.status": false, "method.request.querystring.name": false,
				"method.request.querystring.limit": false, "method.request.querystring.cursor": false},
			"GET /volumes": {"method.request.querystring.from": true, "method.request.querystring.to": true},
			"GET /transactions.csv": {"method.request.querystring.from": true, "method.request.querystring.to": true,
				"method.request.querystring.merchant": false, "method.request.querystring.currency": false},
			"GET /status/{file_id}/errors.csv": {"method.request.path.file_id": true},
			"GET /dlq":                         {},
			"POST /dlq/{file_id}/redrive":      {"method.request.path.file_id": true},
		}
		if !jsonEqual(got, want) {
			t.Errorf("methods and their required parameters\n got %v\nwant %v", got, want)
		}
	})

	t.Run("ApiUsagePlanAndKey", func(t *testing.T) {
		plans := s.ofType("AWS::ApiGateway::UsagePlan")
		if len(plans) != 1 {
			t.Fatalf("%d usage plans, want 1", len(plans))
		}
		var planID string
		for id, p := range plans {
			planID = id
			if got, want := render(p.Properties["Quota"]), `{"Limit":1000,"Period":"DAY"}`; got != want {
				t.Errorf("Quota = %s, want %s", got, want)
			}
			if got, want := render(p.Properties["Throttle"]), `{"BurstLimit":20,"RateLimit":10}`; got != want {
				t.Errorf("Throttle = %s, want %s", got, want)
			}
			stages := p.Properties["ApiStages"].([]any)
			if len(stages) != 1 {
				t.Fatalf("usage plan has %d stages, want 1", len(stages))
			}
			st := stages[0].(map[string]any)
			if render(st["ApiId"]) != "<Api>" || !strings.HasPrefix(render(st["Stage"]), "<ApiDeploymentStagev1") {
				t.Errorf("usage plan stage = %s %s, want the API's v1 stage", render(st["ApiId"]), render(st["Stage"]))
			}
		}
		keys := s.ofType("AWS::ApiGateway::ApiKey")
		if len(keys) != 1 {
			t.Fatalf("%d API keys, want 1", len(keys))
		}
		var keyID string
		for id, k := range keys {
			keyID = id
			if _, ok := k.Properties["Value"]; ok {
				t.Errorf("the API key has a fixed value; want one generated by API Gateway")
			}
		}
		match(t, "usage plan key", func() {
			s.tpl.HasResourceProperties(jsii.String("AWS::ApiGateway::UsagePlanKey"), map[string]any{
				"KeyId":       map[string]any{"Ref": keyID},
				"KeyType":     "API_KEY",
				"UsagePlanId": map[string]any{"Ref": planID},
			})
		})
	})

	t.Run("ApiStage", func(t *testing.T) {
		stages := s.ofType("AWS::ApiGateway::Stage")
		if len(stages) != 1 {
			t.Fatalf("%d stages, want 1", len(stages))
		}
		for _, st := range stages {
			p := st.Properties
			if p["TracingEnabled"] != true {
				t.Error("stage X-Ray tracing is off")
			}
			als := p["AccessLogSetting"].(map[string]any)
			dest := render(als["DestinationArn"])
			found := false
			for id, lg := range s.ofType("AWS::Logs::LogGroup") {
				if dest == "<"+name(id)+".Arn>" {
					found = true
					if got := lg.Properties["RetentionInDays"]; got != 7.0 {
						t.Errorf("access log retention %v days, want 7", got)
					}
				}
			}
			if !found {
				t.Errorf("access log destination %s is not a log group of the stack", dest)
			}
			// One JSON object per request, with who, which request, the
			// answer and how long it took.
			f, _ := als["Format"].(string)
			var fields map[string]string
			if err := json.Unmarshal([]byte(f), &fields); err != nil {
				t.Errorf("access log format %q is not a JSON object: %v", f, err)
			}
			for k, v := range map[string]string{
				"apiKeyId": "$context.identity.apiKeyId", "requestId": "$context.requestId", "status": "$context.status",
				"responseLatency": "$context.responseLatency", "sourceIp": "$context.identity.sourceIp",
				"caller": "$context.identity.caller", "xrayTraceId": "$context.xrayTraceId",
			} {
				if fields[k] != v {
					t.Errorf("access log field %s = %q, want %q", k, fields[k], v)
				}
			}
			metrics := false
			for _, ms := range p["MethodSettings"].([]any) {
				m := ms.(map[string]any)
				if m["MetricsEnabled"] == true && m["ResourcePath"] == "/*" && m["HttpMethod"] == "*" {
					metrics = true
				}
			}
			if !metrics {
				t.Errorf("MethodSettings %v: metrics are not enabled for every method", p["MethodSettings"])
			}
		}
	})

	t.Run("ApiErrorsInContractShape", func(t *testing.T) {
		want := map[string]string{
			"INVALID_API_KEY": "403", "THROTTLED": "429", "QUOTA_EXCEEDED": "429",
			"BAD_REQUEST_PARAMETERS": "400", "REQUEST_TOO_LARGE": "413", "MISSING_AUTHENTICATION_TOKEN": "404",
		}
		for id, r := range s.ofType("AWS::ApiGateway::GatewayResponse") {
			if sc, ok := r.Properties["StatusCode"]; ok && sc == "" {
				t.Errorf("%s: empty StatusCode", id)
			}
			params, _ := r.Properties["ResponseParameters"].(map[string]any)
			for k, v := range params {
				if v == "" {
					t.Errorf("%s: empty response parameter %s", id, k)
				}
			}
		}
		for typ, status := range want {
			_, r := s.one(t, "AWS::ApiGateway::GatewayResponse", "ResponseType", typ)
			if r.Properties["StatusCode"] != status {
				t.Errorf("%s: StatusCode = %v, want %s", typ, r.Properties["StatusCode"], status)
			}
			tmpl := render(r.Properties["ResponseTemplates"])
			if !strings.Contains(tmpl, `{\"error\": {\"code\"`) {
				t.Errorf("%s: template %s is not the contract's error shape", typ, tmpl)
			}
			// The rate limit's wait is a second; the quota's is the time
			// to midnight UTC, which a static header cannot say: none
			// rather than a wrong one (docs/contract.md).
			params := render(r.Properties["ResponseParameters"])
			switch typ {
			case "THROTTLED":
				if !strings.Contains(params, `"gatewayresponse.header.Retry-After":"'1'"`) {
					t.Errorf("%s: response parameters %s, want Retry-After 1", typ, params)
				}
			case "QUOTA_EXCEEDED":
				if strings.Contains(params, "Retry-After") {
					t.Errorf("%s: response parameters %s; a fixed Retry-After is wrong most of the day", typ, params)
				}
			}
		}
	})

	t.Run("Tables", func(t *testing.T) {
		want := map[string]struct{ key, index, pk, sk string }{
			"transactions-dev":      {"transaction_id", "by-time", "time_bucket", "time_key"},
			"processing-status-dev": {"file_id", "by-created", "created_day", "created_at"},
		}
		for tableName, w := range want {
			_, tb := s.one(t, "AWS::DynamoDB::Table", "TableName", tableName)
			p := tb.Properties
			if got := render(p["KeySchema"]); got != fmt.Sprintf(`[{"AttributeName":%q,"KeyType":"HASH"}]`, w.key) {
				t.Errorf("%s: KeySchema = %s, want %s", tableName, got, w.key)
			}
			if p["BillingMode"] != "PAY_PER_REQUEST" {
				t.Errorf("%s: BillingMode = %v, want PAY_PER_REQUEST", tableName, p["BillingMode"])
			}
			if got := render(p["PointInTimeRecoverySpecification"]); got != `{"PointInTimeRecoveryEnabled":true}` {
				t.Errorf("%s: PointInTimeRecoverySpecification = %s", tableName, got)
			}
			wantGSI := fmt.Sprintf(`[{"IndexName":%q,"KeySchema":[{"AttributeName":%q,"KeyType":"HASH"},{"AttributeName":%q,"KeyType":"RANGE"}],"Projection":{"ProjectionType":"ALL"}}]`, w.index, w.pk, w.sk)
			if got := render(p["GlobalSecondaryIndexes"]); got != wantGSI {
				t.Errorf("%s: GlobalSecondaryIndexes\n got %s\nwant %s", tableName, got, wantGSI)
			}
			for _, a := range []string{w.key, w.pk, w.sk} {
				if !strings.Contains(render(p["AttributeDefinitions"]), fmt.Sprintf(`{"AttributeName":%q,"AttributeType":"S"}`, a)) {
					t.Errorf("%s: attribute %s is not a string", tableName, a)
				}
			}
			// dev: the data goes with the stack.
			if p["DeletionProtectionEnabled"] != false || tb.DeletionPolicy != "Delete" {
				t.Errorf("%s (dev): DeletionProtectionEnabled = %v DeletionPolicy = %q, want false and Delete", tableName, p["DeletionProtectionEnabled"], tb.DeletionPolicy)
			}
		}
	})

	t.Run("Bucket", func(t *testing.T) {
		buckets := s.ofType("AWS::S3::Bucket")
		if len(buckets) != 1 {
			t.Fatalf("%d buckets, want 1", len(buckets))
		}
		for id, b := range buckets {
			p := b.Properties
			if got := render(p["BucketEncryption"]); got != `{"ServerSideEncryptionConfiguration":[{"ServerSideEncryptionByDefault":{"SSEAlgorithm":"AES256"}}]}` {
				t.Errorf("BucketEncryption = %s, want AES256", got)
			}
			if got := render(p["PublicAccessBlockConfiguration"]); got != `{"BlockPublicAcls":true,"BlockPublicPolicy":true,"IgnorePublicAcls":true,"RestrictPublicBuckets":true}` {
				t.Errorf("PublicAccessBlockConfiguration = %s, want all blocked", got)
			}
			rules := p["LifecycleConfiguration"].(map[string]any)["Rules"].([]any)
			// uploads/ (stored files), exports/ (large answers) and
			// incoming/ (unclaimed two-step uploads, see TestUploadFlow).
			if len(rules) != 3 {
				t.Fatalf("%d lifecycle rules, want 3", len(rules))
			}
			r := rules[0].(map[string]any)
			if r["Prefix"] != "uploads/" || r["Status"] != "Enabled" || r["ExpirationInDays"] != 365.0 {
				t.Errorf("lifecycle rule %v: want uploads/ expiring after 365 days", render(r))
			}
			if !strings.Contains(render(r["Transitions"]), `"StorageClass":"STANDARD_IA","TransitionInDays":30`) {
				t.Errorf("lifecycle transitions %s: want STANDARD_IA after 30 days", render(r["Transitions"]))
			}
			// Large answers (the API's 303 downloads) are gone after a
			// day, old versions and unfinished uploads too.
			if got := render(rules[1]); got != `{"AbortIncompleteMultipartUpload":{"DaysAfterInitiation":1},"ExpirationInDays":1,"Id":"exports","NoncurrentVersionExpiration":{"NoncurrentDays":1},"Prefix":"exports/","Status":"Enabled"}` {
				t.Errorf("lifecycle rule %s: want exports/ expiring after a day", got)
			}
			requireTLS(t, s, "AWS::S3::BucketPolicy", "Bucket", "<"+name(id)+">")
			if b.DeletionPolicy != "Delete" {
				t.Errorf("dev bucket DeletionPolicy = %q, want Delete", b.DeletionPolicy)
			}
		}
	})

	t.Run("TopicsAndQueue", func(t *testing.T) {
		for _, topic := range []string{"txpipe-results-dev", "txpipe-alarms-dev"} {
			id, _ := s.one(t, "AWS::SNS::Topic", "TopicName", topic)
			requireTLS(t, s, "AWS::SNS::TopicPolicy", "Topics", "<"+name(id)+">")
		}
		_, results := s.one(t, "AWS::SNS::Topic", "TopicName", "txpipe-results-dev")
		if !strings.Contains(render(results.Properties["KmsMasterKeyId"]), "alias/aws/sns") {
			t.Errorf("results topic KmsMasterKeyId = %v, want the SNS managed key", results.Properties["KmsMasterKeyId"])
		}
		id, q := s.one(t, "AWS::SQS::Queue", "QueueName", "txpipe-dlq-dev")
		if q.Properties["SqsManagedSseEnabled"] != true {
			t.Errorf("queue SqsManagedSseEnabled = %v, want true", q.Properties["SqsManagedSseEnabled"])
		}
		if got, want := q.Properties["MessageRetentionPeriod"], (14 * 24 * time.Hour).Seconds(); got != want {
			t.Errorf("queue MessageRetentionPeriod = %v, want %v (14 days)", got, want)
		}
		requireTLS(t, s, "AWS::SQS::QueuePolicy", "Queues", "<"+name(id)+">")
	})

	t.Run("Alarms", func(t *testing.T) {
		alarms := s.ofType("AWS::CloudWatch::Alarm")
		topicRef := ""
		for id, r := range s.ofType("AWS::SNS::Topic") {
			if r.Properties["TopicName"] == "txpipe-alarms-dev" {
				topicRef = "<" + name(id) + ">"
			}
		}
		runbook, err := os.ReadFile("../docs/operations.md")
		if err != nil {
			t.Fatalf("the runbook: %v", err)
		}
		sections := map[string]bool{}
		for _, line := range strings.Split(string(runbook), "\n") {
			if h, ok := strings.CutPrefix(line, "### "); ok {
				sections[strings.ReplaceAll(strings.ToLower(strings.TrimSpace(h)), " ", "-")] = true
			}
		}
		found := map[string]int{}
		for id, a := range alarms {
			p := a.Properties
			if got := strs(p["AlarmActions"]); !slices.Equal(got, []string{topicRef}) {
				t.Errorf("%s: AlarmActions = %v, want the alarm topic %s", id, got, topicRef)
			}
			if got := strs(p["OKActions"]); !slices.Equal(got, []string{topicRef}) {
				t.Errorf("%s: OKActions = %v, want the alarm topic %s", id, got, topicRef)
			}
			if p["TreatMissingData"] != "notBreaching" {
				t.Errorf("%s: TreatMissingData = %v, want notBreaching", id, p["TreatMissingData"])
			}
			m, _ := p["DatapointsToAlarm"].(float64)
			n, _ := p["EvaluationPeriods"].(float64)
			if m < 1 || n < 1 || m > n {
				t.Errorf("%s: DatapointsToAlarm %v of EvaluationPeriods %v, want M of N", id, p["DatapointsToAlarm"], p["EvaluationPeriods"])
			}
			if m == 1 && n == 1 {
				t.Errorf("%s: one datapoint of one: a single noisy period pages someone", id)
			}
			desc, _ := p["AlarmDescription"].(string)
			before, section, ok := strings.Cut(desc, "docs/operations.md#")
			if !ok || !strings.Contains(before, "What to do:") {
				t.Errorf("%s: description %q says no meaning, what to do or runbook section", id, desc)
			} else if !sections[section] {
				t.Errorf("%s: runbook section %q is not a ### heading of docs/operations.md", id, section)
			}
			metrics := render(p["Metrics"]) + render(p["MetricName"]) + render(p["Dimensions"])
			kind := ""
			switch {
			case strings.Contains(metrics, "100 * errors / invocations") && strings.Contains(metrics, `"MetricName":"Errors"`):
				kind = "function-error-rate"
				if p["Threshold"] != 5.0 || p["ComparisonOperator"] != "GreaterThanThreshold" {
					t.Errorf("%s: %v %v, want > 5 (%%)", id, p["ComparisonOperator"], p["Threshold"])
				}
			case p["MetricName"] == "Throttles" && p["Namespace"] == "AWS/Lambda":
				kind = "lambda-throttles"
			case strings.Contains(metrics, "ExecutionsFailed") && strings.Contains(metrics, "ExecutionsTimedOut") && strings.Contains(metrics, "ExecutionsAborted"):
				kind = "failed-executions"
				if !strings.Contains(metrics, "<Workflow>") {
					t.Errorf("%s: watches %s, not the state machine", id, metrics)
				}
			case strings.Contains(metrics, `"MetricName":"5XXError"`) && strings.Contains(metrics, `"MetricName":"Count"`):
				kind = "api-5xx-rate"
			case p["MetricName"] == "Latency" && p["ExtendedStatistic"] == "p99":
				kind = "api-latency"
			case p["MetricName"] == MetricAPIThrottled:
				kind = "api-throttles"
			case p["MetricName"] == "ApproximateNumberOfMessagesVisible":
				kind = "dead-letters"
				if render(p["Dimensions"]) != `[{"Name":"QueueName","Value":"<DeadLetterQueue.QueueName>"}]` || p["Threshold"] != 1.0 {
					t.Errorf("%s: %s >= %v, want the dead-letter queue >= 1", id, render(p["Dimensions"]), p["Threshold"])
				}
			case p["MetricName"] == "ApproximateAgeOfOldestMessage":
				kind = "dead-letter-age"
			case strings.Contains(metrics, "WriteThrottleEvents") && strings.Contains(metrics, "ReadThrottleEvents"):
				kind = "dynamodb-throttles"
			default:
				t.Errorf("%s: an alarm on %s this test does not know", id, metrics)
				continue
			}
			found[kind]++
			if !strings.HasSuffix(desc, "#"+kind) {
				t.Errorf("%s: links %q, want the section %s", id, section, kind)
			}
		}
		want := map[string]int{
			// One per function and state machine of the stack, whichever
			// they are.
			"function-error-rate": len(s.ofType("AWS::Lambda::Function")), "lambda-throttles": len(s.ofType("AWS::Lambda::Function")),
			"failed-executions": len(s.ofType("AWS::StepFunctions::StateMachine")),
			"api-5xx-rate":      1, "api-latency": 1, "api-throttles": 1, "dead-letters": 1, "dead-letter-age": 1, "dynamodb-throttles": 2,
		}
		if !jsonEqual(found, want) {
			t.Errorf("alarms by kind %v, want %v", found, want)
		}
		// The 429 count comes from the access log.
		_, filter := s.one(t, "AWS::Logs::MetricFilter", "FilterPattern", `{ $.status = "429" }`)
		if got := render(filter.Properties["MetricTransformations"]); !strings.Contains(got, `"MetricName":"`+MetricAPIThrottled+`"`) ||
			render(filter.Properties["LogGroupName"]) != "<ApiAccessLogs>" {
			t.Errorf("429 metric filter %s on %s", got, render(filter.Properties["LogGroupName"]))
		}
	})

	t.Run("AlarmTopicLetsCloudWatchPublish", func(t *testing.T) {
		requireTLS(t, s, "AWS::SNS::TopicPolicy", "Topics", "<AlarmTopic>")
		var allowed bool
		for _, pol := range s.ofType("AWS::SNS::TopicPolicy") {
			if !slices.Contains(strs(pol.Properties["Topics"]), "<AlarmTopic>") {
				continue
			}
			for _, stmt := range pol.Properties["PolicyDocument"].(map[string]any)["Statement"].([]any) {
				m := stmt.(map[string]any)
				if m["Effect"] == "Allow" && render(m["Principal"]) == `{"Service":"cloudwatch.amazonaws.com"}` &&
					render(m["Action"]) == "sns:Publish" && render(m["Resource"]) == "<AlarmTopic>" &&
					render(m["Condition"]) == `{"ArnLike":{"aws:SourceArn":"arn:<AWS::Partition>:cloudwatch:<AWS::Region>:<AWS::AccountId>:alarm:*"},"StringEquals":{"aws:SourceAccount":"<AWS::AccountId>"}}` {
					allowed = true
				}
			}
		}
		if !allowed {
			t.Error("the alarm topic's policy does not let this account's CloudWatch alarms publish")
		}
		_, results := s.one(t, "AWS::SNS::Topic", "TopicName", "txpipe-results-dev")
		if got := results.Properties["TracingConfig"]; got != "Active" {
			t.Errorf("results topic TracingConfig = %v, want Active (the run's trace continues to the notification)", got)
		}
		_, topic := s.one(t, "AWS::SNS::Topic", "TopicName", "txpipe-alarms-dev")
		if k, ok := topic.Properties["KmsMasterKeyId"]; ok {
			t.Errorf("alarm topic encrypted with %s: the key policy must let CloudWatch use it", render(k))
		}
	})

	t.Run("Dashboard", func(t *testing.T) {
		_, d := s.one(t, "AWS::CloudWatch::Dashboard", "DashboardName", "txpipe-dev")
		var body struct {
			Widgets []struct {
				Properties struct {
					Title   string
					Metrics [][]any
				}
			}
		}
		if err := json.Unmarshal([]byte(render(d.Properties["DashboardBody"])), &body); err != nil {
			t.Fatalf("dashboard body: %v", err)
		}
		emitted := map[string]bool{MetricAPIThrottled: true} // the access log's metric filter
		for _, m := range awsnames.Metrics() {
			emitted[m] = true
		}
		titles := map[string]bool{}
		custom := map[string]bool{}
		for _, w := range body.Widgets {
			titles[w.Properties.Title] = true
			if len(w.Properties.Metrics) == 0 {
				t.Errorf("widget %q shows no metric", w.Properties.Title)
			}
			for _, m := range w.Properties.Metrics {
				if len(m) < 2 || m[0] != awsnames.MetricsNamespace {
					continue
				}
				name := fmt.Sprint(m[1])
				custom[name] = true
				if !emitted[name] {
					t.Errorf("widget %q reads %s/%s, which the code does not emit", w.Properties.Title, m[0], name)
				}
				if name != MetricAPIThrottled && (len(m) < 4 || m[2] != awsnames.MetricDimFunction) {
					t.Errorf("widget %q reads %v without the %s dimension the code writes", w.Properties.Title, m, awsnames.MetricDimFunction)
				}
			}
		}
		for _, w := range []string{"Uploads and rows per hour", "Run duration (ms): executions and steps", "Function error rates (%)",
			"Dead-letter queue", "DynamoDB writes: consumed and throttled", "API latency (ms)", "API requests, 4XX and 5XX"} {
			if !titles[w] {
				t.Errorf("no widget %q; widgets %v", w, slices.Sorted(maps.Keys(titles)))
			}
		}
		for _, m := range []string{awsnames.MetricUploads, awsnames.MetricFilesRejected, awsnames.MetricRowsWritten, awsnames.MetricStepDuration} {
			if !custom[m] {
				t.Errorf("the dashboard does not show %s", m)
			}
		}
	})

	t.Run("LeastPrivilege", func(t *testing.T) {
		type grant map[string][]string // action -> rendered resources
		uploads := "<UploadsBucket.Arn>/uploads/*"
		tx, st := "<TransactionsTable.Arn>", "<StatusTable.Arn>"
		rw := []string{"dynamodb:BatchGetItem", "dynamodb:BatchWriteItem", "dynamodb:ConditionCheckItem", "dynamodb:DescribeTable", "dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:Query", "dynamodb:UpdateItem"}
		ro := []string{"dynamodb:BatchGetItem", "dynamodb:DescribeTable", "dynamodb:GetItem", "dynamodb:Query"}
		add := func(g grant, actions []string, res ...string) {
			for _, a := range actions {
				g[a] = append(g[a], res...)
			}
		}
		lambdaBase := func(fn string) grant {
			g := grant{}
			add(g, []string{"logs:CreateLogStream", "logs:PutLogEvents"}, "<"+fn+"Logs.Arn>")
			add(g, []string{"xray:PutTraceSegments", "xray:PutTelemetryRecords"}, "*")
			return g
		}
		validator := lambdaBase("Validator")
		add(validator, []string{"s3:PutObject", "s3:GetObject", "s3:AbortMultipartUpload"}, uploads)
		add(validator, []string{"s3:ListBucket"}, "<UploadsBucket.Arn> if s3:prefix uploads/*")
		add(validator, []string{"s3:GetObject", "s3:PutObject", "s3:DeleteObject"}, "<UploadsBucket.Arn>/profiles/*")
		add(validator, []string{"s3:ListBucket"}, "<UploadsBucket.Arn> if s3:prefix profiles/*")
		// Large answers: written in parts (or aborted) and read through
		// the URLs the validator signs, on exports/ only.
		add(validator, []string{"s3:PutObject", "s3:AbortMultipartUpload", "s3:GetObject"}, "<UploadsBucket.Arn>/exports/*")
		add(validator, rw, st)
		add(validator, ro, tx)
		add(validator, []string{"dynamodb:Query"}, st+"/index/by-created", tx+"/index/by-time")
		sm := "arn:<AWS::Partition>:states:<AWS::Region>:<AWS::AccountId>:stateMachine:txpipe-dev"
		add(validator, []string{"states:StartExecution"}, sm)
		add(validator, []string{"s3:GetObject", "s3:DeleteObject"}, "<UploadsBucket.Arn>/incoming/*")
		add(validator, []string{"sts:AssumeRole"}, "<UploadPresignRole.Arn>")
		add(validator, []string{"sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility"}, "<DeadLetterQueue.Arn>")
		presign := grant{}
		add(presign, []string{"s3:PutObject"}, "<UploadsBucket.Arn>/incoming/*")
		transformer := lambdaBase("Transformer")
		add(transformer, []string{"s3:GetObject"}, uploads)
		add(transformer, []string{"s3:ListBucket"}, "<UploadsBucket.Arn> if s3:prefix uploads/*")
		add(transformer, rw, tx, st)
		add(transformer, []string{"dynamodb:Query"}, tx+"/index/by-time")
		notifier := lambdaBase("Notifier")
		add(notifier, rw, st)
		add(notifier, []string{"sns:Publish"}, "<ResultsTopic>")
		add(notifier, []string{"sqs:SendMessage"}, "<DeadLetterQueue.Arn>")
		states := grant{}
		add(states, []string{"lambda:InvokeFunction"}, "<Validator.Arn>", "<Transformer.Arn>", "<Notifier.Arn>")
		// The Distributed Map starts its children as executions of the machine.
		add(states, []string{"states:StartExecution"}, sm)
		add(states, []string{"states:DescribeExecution", "states:StopExecution"}, "arn:<AWS::Partition>:states:<AWS::Region>:<AWS::AccountId>:execution:txpipe-dev:*")
		add(states, []string{"sqs:SendMessage"}, "<DeadLetterQueue.Arn>")
		add(states, []string{"xray:PutTraceSegments", "xray:PutTelemetryRecords", "xray:GetSamplingRules", "xray:GetSamplingTargets"}, "*")
		add(states, []string{"logs:CreateLogDelivery", "logs:GetLogDelivery", "logs:UpdateLogDelivery", "logs:DeleteLogDelivery",
			"logs:ListLogDeliveries", "logs:PutResourcePolicy", "logs:DescribeResourcePolicies", "logs:DescribeLogGroups"}, "*")
		want := map[string]grant{"ValidatorRole": validator, "TransformerRole": transformer, "NotifierRole": notifier, "StateMachineRole": states, "UploadPresignRole": presign}

		got := map[string]grant{}
		for id, pol := range s.ofType("AWS::IAM::Policy") {
			roles := strs(pol.Properties["Roles"])
			if len(roles) != 1 {
				t.Errorf("%s: attached to roles %v, want one", id, roles)
				continue
			}
			role := strings.Trim(roles[0], "<>")
			g := grant{}
			doc := pol.Properties["PolicyDocument"].(map[string]any)
			for _, stmt := range doc["Statement"].([]any) {
				m := stmt.(map[string]any)
				if m["Effect"] != "Allow" {
					t.Errorf("%s: statement %s", id, render(m))
				}
				cond := ""
				if c, ok := m["Condition"]; ok {
					c := c.(map[string]any)
					if sl, ok := c["StringLike"].(map[string]any); ok && len(c) == 1 && len(sl) == 1 {
						cond = " if s3:prefix " + render(sl["s3:prefix"])
					} else {
						cond = " if " + render(c)
					}
				}
				for _, a := range strs(m["Action"]) {
					for _, r := range strs(m["Resource"]) {
						g[a] = append(g[a], r+cond)
					}
				}
			}
			got[role] = g
		}
		for role, w := range want {
			g := got[role]
			for a := range w {
				slices.Sort(w[a])
				slices.Sort(g[a])
			}
			if !jsonEqual(g, w) {
				t.Errorf("%s grants\n got %v\nwant %v", role, g, w)
			}
		}
		if len(got) != len(want) {
			t.Errorf("policies for roles %v, want %d", slices.Sorted(maps.Keys(got)), len(want))
		}
		// The account-wide API Gateway settings are no environment's
		// (TestApiGatewayAccountOptIn): no role has a managed policy.
		if n := len(s.ofType("AWS::ApiGateway::Account")); n != 0 {
			t.Errorf("%d AWS::ApiGateway::Account in an environment stack by default, want 0", n)
		}
		for id, r := range s.ofType("AWS::IAM::Role") {
			mp, ok := r.Properties["ManagedPolicyArns"]
			if ok {
				t.Errorf("%s: managed policies %s; want only the stack's own statements", id, render(mp))
			}
			if _, ok := r.Properties["Policies"]; ok {
				t.Errorf("%s: inline policies besides its default policy", id)
			}
		}
		// Only the validator's API integration may invoke a function from
		// outside, and only through the API's methods; and EventBridge, from
		// the two rules of the upload flow.
		for id, perm := range s.ofType("AWS::Lambda::Permission") {
			p := perm.Properties
			if p["Principal"] == "events.amazonaws.com" &&
				((render(p["FunctionName"]) == "<Validator.Arn>" && render(p["SourceArn"]) == "<UploadArrivedRule.Arn>") ||
					(render(p["FunctionName"]) == "<Notifier.Arn>" && render(p["SourceArn"]) == "<ExecutionFailedRule.Arn>")) {
				continue
			}
			if p["Principal"] != "apigateway.amazonaws.com" || render(p["FunctionName"]) != "<Validator.Arn>" ||
				!strings.Contains(render(p["SourceArn"]), ":<Api>/<ApiDeploymentStagev1>/") {
				t.Errorf("%s: %s may invoke %s from %s", id, p["Principal"], render(p["FunctionName"]), render(p["SourceArn"]))
			}
		}
	})

	t.Run("Tags", func(t *testing.T) {
		untaggable := map[string]bool{
			"AWS::IAM::Policy": true, "AWS::S3::BucketPolicy": true, "AWS::SNS::TopicPolicy": true, "AWS::SQS::QueuePolicy": true,
			"AWS::Lambda::Permission": true, "AWS::ApiGateway::Resource": true, "AWS::ApiGateway::Method": true,
			"AWS::ApiGateway::Deployment": true, "AWS::ApiGateway::RequestValidator": true,
			"AWS::ApiGateway::UsagePlanKey": true, "AWS::ApiGateway::GatewayResponse": true,
			"AWS::ApiGateway::Account": true, "AWS::CloudWatch::Dashboard": true, "AWS::Logs::MetricFilter": true,
		}
		want := map[string]string{"Environment": "dev", "Application": "txpipe", "CostCenter": "txpipe"}
		for id, r := range s.doc.Resources {
			if untaggable[r.Type] {
				continue
			}
			tags := map[string]string{}
			switch v := r.Properties["Tags"].(type) {
			case []any:
				for _, tag := range v {
					m := tag.(map[string]any)
					tags[m["Key"].(string)] = render(m["Value"])
				}
			case map[string]any:
				for k, val := range v {
					tags[k] = render(val)
				}
			}
			for k, v := range want {
				if tags[k] != v {
					t.Errorf("%s (%s): tag %s = %q, want %q", id, r.Type, k, tags[k], v)
				}
			}
		}
	})

	t.Run("Outputs", func(t *testing.T) {
		want := map[string]string{
			"ApiEndpoint":             "https://<Api>.execute-api.<AWS::Region>.<AWS::URLSuffix>/<ApiDeploymentStagev1>",
			"ApiKeyId":                "<ApiKey>",
			"ApiKeyValueCommand":      "aws apigateway get-api-key --api-key <ApiKey> --include-value --query value --output text --region <AWS::Region>",
			"TransactionsTableName":   "<TransactionsTable>",
			"StatusTableName":         "<StatusTable>",
			"UploadsBucketName":       "<UploadsBucket>",
			"ResultsTopicArn":         "<ResultsTopic>",
			"AlarmTopicArn":           "<AlarmTopic>",
			"StateMachineArn":         "<Workflow>",
			"DeadLetterQueueUrl":      "<DeadLetterQueue>",
			"ValidatorFunctionName":   "<Validator>",
			"TransformerFunctionName": "<Transformer>",
			"NotifierFunctionName":    "<Notifier>",
		}
		got := map[string]string{}
		for id, o := range s.doc.Outputs {
			got[id] = render(o.Value)
			if o.Description == "" {
				t.Errorf("output %s has no description", id)
			}
		}
		if !jsonEqual(got, want) {
			t.Errorf("outputs\n got %v\nwant %v", got, want)
		}
	})

	t.Run("CdkNagClean", func(t *testing.T) {
		// Errors left by cdk-nag would be error annotations on the stack
		// (cdk synth fails on them).
		for _, m := range s.messages(t) {
			if m.Type == "aws:cdk:error" {
				t.Errorf("error annotation on %s: %v", m.Path, m.Data)
			}
		}

		// The AwsSolutions pack ran (its report lists the rules it
		// checked), nothing is non-compliant, and each suppression has
		// its reason.
		reports, _ := filepath.Glob(filepath.Join(s.outdir, "AwsSolutions-*"+*s.stack.StackName()+"-NagReport.csv"))
		if len(reports) != 1 {
			t.Fatalf("cdk-nag reports %v, want one", reports)
		}
		f, err := os.Open(reports[0])
		if err != nil {
			t.Fatalf("cdk-nag report: %v", err)
		}
		defer f.Close()
		rows, err := csv.NewReader(f).ReadAll()
		if err != nil {
			t.Fatalf("cdk-nag report: %v", err)
		}
		if len(rows) < 20 {
			t.Fatalf("cdk-nag report has %d rows; the AwsSolutions checks did not run", len(rows))
		}
		counts := map[string]int{}
		for _, r := range rows[1:] {
			rule, res, compliance, reason := r[0], r[1], r[2], r[3]
			counts[compliance]++
			switch compliance {
			case "Compliant", "Suppressed":
			default:
				t.Errorf("%s on %s: %s (%s)", rule, res, compliance, r[5])
			}
			if compliance == "Suppressed" && len(reason) < 40 {
				t.Errorf("%s on %s: suppressed with the reason %q; say why", rule, res, reason)
			}
		}
		t.Logf("cdk-nag AwsSolutions: %v", counts)
	})

	t.Run("SuppressionsAreTrue", func(t *testing.T) {
		checkSuppressions(t, s)
	})

	t.Run("ChunksFitExpressChildren", func(t *testing.T) {
		for _, st := range def.Steps {
			if st.Map != nil && st.ChildWorstCase() >= expressLimit {
				t.Errorf("step %s: a chunk can run %v, not within an Express child's %v", st.Name, st.ChildWorstCase(), expressLimit)
			}
		}
	})
}

// TestApiGatewayAccountOptIn: the account's API Gateway logging role is set
// by the one stack deployed with APIGatewayAccount, and kept when it goes.
func TestApiGatewayAccountOptIn(t *testing.T) {
	s := synthConfig(t, Config{Env: "dev", APIGatewayAccount: true})
	_, account := s.one(t, "AWS::ApiGateway::Account", "CloudWatchRoleArn", map[string]any{"Fn::GetAtt": []any{apiLogRole(s), "Arn"}})
	if account.DeletionPolicy != "Retain" {
		t.Errorf("API Gateway account settings DeletionPolicy = %q, want Retain (shared by the account)", account.DeletionPolicy)
	}
	checkSuppressions(t, s)
}

// TestProdStack checks what changes in prod: the data outlives the stack,
// the bucket keeps versions, logs are kept longer.
func TestProdStack(t *testing.T) {
	s := synthConfig(t, Config{Env: "prod", TransformerConcurrency: 20})
	_, bucket := s.one(t, "AWS::S3::Bucket", "VersioningConfiguration", map[string]any{"Status": "Enabled"})
	if rules := render(bucket.Properties["LifecycleConfiguration"]); !strings.Contains(rules, `"NoncurrentVersionExpiration":{"NoncurrentDays":30}`) {
		t.Errorf("versioned bucket lifecycle %s: old versions never expire", rules)
	}
	for id, lg := range s.ofType("AWS::Logs::LogGroup") {
		if got := lg.Properties["RetentionInDays"]; got != 90.0 {
			t.Errorf("%s: RetentionInDays = %v, want 90 in prod", id, got)
		}
	}
	for _, tableName := range []string{"transactions-prod", "processing-status-prod"} {
		_, tb := s.one(t, "AWS::DynamoDB::Table", "TableName", tableName)
		if got := render(tb.Properties["PointInTimeRecoverySpecification"]); got != `{"PointInTimeRecoveryEnabled":true}` {
			t.Errorf("%s: PointInTimeRecoverySpecification = %s", tableName, got)
		}
	}
	_, tr := s.one(t, "AWS::Lambda::Function", "FunctionName", "data-transformer-prod")
	if got := tr.Properties["ReservedConcurrentExecutions"]; got != 20.0 {
		t.Errorf("transformer ReservedConcurrentExecutions = %v, want 20", got)
	}
	checkSuppressions(t, s)
	for _, tableName := range []string{"transactions-prod", "processing-status-prod"} {
		_, tb := s.one(t, "AWS::DynamoDB::Table", "TableName", tableName)
		if tb.Properties["DeletionProtectionEnabled"] != true || tb.DeletionPolicy != "Retain" {
			t.Errorf("%s: DeletionProtectionEnabled = %v DeletionPolicy = %q, want true and Retain",
				tableName, tb.Properties["DeletionProtectionEnabled"], tb.DeletionPolicy)
		}
	}
	for typ := range map[string]bool{"AWS::S3::Bucket": true, "AWS::SQS::Queue": true, "AWS::Logs::LogGroup": true} {
		for id, r := range s.ofType(typ) {
			if r.DeletionPolicy != "Retain" {
				t.Errorf("%s: DeletionPolicy = %q, want Retain in prod", id, r.DeletionPolicy)
			}
		}
	}
	s.one(t, "AWS::Lambda::Function", "FunctionName", "csv-validator-prod")
	s.one(t, "AWS::StepFunctions::StateMachine", "StateMachineName", "txpipe-prod")
	for id, r := range s.ofType("AWS::Lambda::Function") {
		tags := render(r.Properties["Tags"])
		if !strings.Contains(tags, `{"Key":"Environment","Value":"prod"}`) {
			t.Errorf("%s: tags %s, want Environment prod", id, tags)
		}
	}
}

func TestWorkflowWorstCase(t *testing.T) {
	p := workflow.RetryPolicy{MaxAttempts: 3, Interval: time.Second, BackoffRate: 2, MaxDelay: 30 * time.Second, FullJitter: true, RetryOn: []string{"x"}}
	def := workflow.Definition{
		Steps:     []workflow.Step{{Name: "A", Function: workflow.FunctionTransformer, Retry: p, Timeout: 10 * time.Second}},
		OnFailure: []workflow.Step{{Name: "B", Function: workflow.FunctionNotifier, Retry: p, Timeout: 5 * time.Second}},
	}
	// A: 10 + 1 + 10 + 2 + 10 = 33 s; B: 5 + 1 + 5 + 2 + 5 = 18 s.
	if got, want := workflowWorstCase(def), 51*time.Second; got != want {
		t.Errorf("workflowWorstCase = %v, want %v", got, want)
	}
}

func TestFunctionTimeouts(t *testing.T) {
	got, err := functionTimeouts(workflow.Pipeline())
	if err != nil {
		t.Fatal(err)
	}
	for _, st := range workflow.Pipeline().Steps {
		if got[st.Function] >= st.Timeout {
			t.Errorf("%s function timeout %v, not strictly below step %s's timeout %v", st.Function, got[st.Function], st.Name, st.Timeout)
		}
	}
	if _, err := functionTimeouts(workflow.Definition{Name: "x"}); err == nil {
		t.Error("functionTimeouts of a definition without the functions: no error")
	}
}

func TestNewStackNeedsDockerfile(t *testing.T) {
	app := awscdk.NewApp(&awscdk.AppProps{Outdir: jsii.String(t.TempDir())})
	_, err := NewStack(app, "x", Config{Env: "dev", RepoRoot: t.TempDir()})
	if err == nil || !strings.Contains(err.Error(), "Dockerfile") {
		t.Errorf("NewStack without a Dockerfile: error %v, want one naming the Dockerfile", err)
	}
	if _, err := NewStack(app, "y", Config{RepoRoot: ".."}); err == nil {
		t.Error("NewStack without an environment suffix: no error")
	}
}

func TestEnvironmentSuffix(t *testing.T) {
	withCtx := awscdk.NewApp(&awscdk.AppProps{Outdir: jsii.String(t.TempDir()), Context: &map[string]any{"env": "qa"}})
	if got := contextOr(withCtx, "env", "staging", "dev"); got != "qa" {
		t.Errorf("with context env=qa: %q, want qa", got)
	}
	plain := awscdk.NewApp(&awscdk.AppProps{Outdir: jsii.String(t.TempDir())})
	if got := contextOr(plain, "env", "staging", "dev"); got != "staging" {
		t.Errorf("with ENVIRONMENT_SUFFIX=staging: %q, want staging", got)
	}
	if got := contextOr(plain, "env", "", "dev"); got != "dev" {
		t.Errorf("with nothing set: %q, want dev", got)
	}
}

// suppressionClaims check, against the template, what each cdk-nag
// suppression's reason says. A rule suppressed without an entry here fails
// the test: add the check, or the reason is not known to be true.
var suppressionClaims = map[string]func(t *testing.T, s *synthesized, reason string){
	// "each such API request is in the API Gateway access log with its API
	// key id, request id, status and source IP"
	"AwsSolutions-S1": func(t *testing.T, s *synthesized, reason string) {
		for _, f := range []string{"$context.identity.apiKeyId", "$context.requestId", "$context.status", "$context.identity.sourceIp"} {
			if !strings.Contains(accessLogFormat, f) {
				t.Errorf("S1 says the access log has %s; its format does not", f)
			}
		}
		if len(s.ofType("AWS::ApiGateway::Stage")) == 0 {
			t.Error("S1 relies on the API's access log; there is no stage")
		}
	},
	// "the state machine sends failed runs to it": a state machine role may
	// send to the queue and the definition names it.
	"AwsSolutions-SQS3": func(t *testing.T, s *synthesized, reason string) {
		var sends, named bool
		for _, pol := range s.ofType("AWS::IAM::Policy") {
			if strings.Contains(render(pol.Properties["PolicyDocument"]), `"Action":"sqs:SendMessage","Effect":"Allow","Resource":"<DeadLetterQueue.Arn>"`) &&
				strings.Contains(render(pol.Properties["Roles"]), "StateMachine") {
				sends = true
			}
		}
		for _, sm := range s.ofType("AWS::StepFunctions::StateMachine") {
			if strings.Contains(render(sm.Properties["DefinitionSubstitutions"]), "<DeadLetterQueue>") {
				named = true
			}
		}
		if !sends || !named {
			t.Errorf("SQS3 says the state machine sends failed runs to the queue: role may send %v, definition names it %v", sends, named)
		}
	},
	// Resource * only for actions without resource-level permissions
	// (X-Ray, CloudWatch Logs delivery); the uploads/ prefix only for
	// object access.
	"AwsSolutions-IAM5": func(t *testing.T, s *synthesized, reason string) {
		starOK := func(a string) bool {
			return strings.HasPrefix(a, "xray:") || slices.Contains([]string{"logs:CreateLogDelivery", "logs:GetLogDelivery",
				"logs:UpdateLogDelivery", "logs:DeleteLogDelivery", "logs:ListLogDeliveries", "logs:PutResourcePolicy",
				"logs:DescribeResourcePolicies", "logs:DescribeLogGroups"}, a)
		}
		for id, pol := range s.ofType("AWS::IAM::Policy") {
			for _, stmt := range pol.Properties["PolicyDocument"].(map[string]any)["Statement"].([]any) {
				m := stmt.(map[string]any)
				for _, r := range strs(m["Resource"]) {
					for _, a := range strs(m["Action"]) {
						switch {
						case r == "*" && !starOK(a):
							t.Errorf("%s: %s on *, which the IAM5 reasons do not cover", id, a)
						case (strings.HasSuffix(r, "/uploads/*") || strings.HasSuffix(r, "/profiles/*") || strings.HasSuffix(r, "/incoming/*") || strings.HasSuffix(r, "/exports/*")) && !strings.HasPrefix(a, "s3:"):
							t.Errorf("%s: %s on %s", id, a, r)
						case strings.Contains(r, ":execution:txpipe-") && strings.HasSuffix(r, ":*") &&
							!slices.Contains([]string{"states:DescribeExecution", "states:StopExecution"}, a):
							t.Errorf("%s: %s on the machine's executions %s, which the IAM5 reasons do not cover", id, a, r)
						case strings.Contains(r, ":execution:txpipe-") && strings.HasSuffix(r, ":*"):
							// The Distributed Map's children, named by Step Functions.
						case r != "*" && strings.Contains(r, "*") && !strings.HasSuffix(r, "/uploads/*") && !strings.HasSuffix(r, "/profiles/*") && !strings.HasSuffix(r, "/incoming/*") && !strings.HasSuffix(r, "/exports/*"):
							t.Errorf("%s: wildcard resource %s, which the IAM5 reasons do not cover", id, r)
						}
					}
				}
			}
		}
	},
	// "Every request is logged in the stage's access log (...; kept N
	// days, in the stack)"
	"AwsSolutions-APIG6": func(t *testing.T, s *synthesized, reason string) {
		for id, st := range s.ofType("AWS::ApiGateway::Stage") {
			dest := render(st.Properties["AccessLogSetting"].(map[string]any)["DestinationArn"])
			for lid, lg := range s.ofType("AWS::Logs::LogGroup") {
				if dest == "<"+name(lid)+".Arn>" {
					if days := fmt.Sprintf("kept %v days", lg.Properties["RetentionInDays"]); !strings.Contains(reason, days) {
						t.Errorf("APIG6 reason %q; the access log is %s", reason, days)
					}
					return
				}
			}
			t.Errorf("%s: access log destination %s is not a log group of the stack", id, dest)
		}
	},
	// "the usage plan's rate limit and daily quota bound each key's traffic"
	"AwsSolutions-APIG3": func(t *testing.T, s *synthesized, reason string) {
		for id, p := range s.ofType("AWS::ApiGateway::UsagePlan") {
			q, _ := p.Properties["Quota"].(map[string]any)
			th, _ := p.Properties["Throttle"].(map[string]any)
			if q["Period"] != "DAY" || q["Limit"] == nil || th["RateLimit"] == nil {
				t.Errorf("%s: quota %v throttle %v, want a daily quota and a rate limit", id, q, th)
			}
		}
	},
	// "The API authorizes callers with API keys": every method needs one.
	"AwsSolutions-APIG4": func(t *testing.T, s *synthesized, reason string) { everyMethodNeedsAKey(t, s) },
	"AwsSolutions-COG4":  func(t *testing.T, s *synthesized, reason string) { everyMethodNeedsAKey(t, s) },
	// "uses the AWS-managed AmazonAPIGatewayPushToCloudWatchLogs policy":
	// only on the role API Gateway assumes.
	"AwsSolutions-IAM4": func(t *testing.T, s *synthesized, reason string) {
		for id, r := range s.ofType("AWS::IAM::Role") {
			mp, ok := r.Properties["ManagedPolicyArns"]
			if !ok {
				continue
			}
			if id != apiLogRole(s) || render(mp) != `["arn:<AWS::Partition>:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs"]` {
				t.Errorf("%s: managed policies %s; IAM4's reason covers only API Gateway's logging role", id, render(mp))
			}
		}
	},
}

func everyMethodNeedsAKey(t *testing.T, s *synthesized) {
	for id, m := range s.ofType("AWS::ApiGateway::Method") {
		if m.Properties["HttpMethod"] != "OPTIONS" && m.Properties["ApiKeyRequired"] != true {
			t.Errorf("%s: %v without an API key", id, m.Properties["HttpMethod"])
		}
	}
}

// checkSuppressions checks every cdk-nag suppression of the template: it
// still suppresses a finding (the rule fires on a resource it covers), and
// its reason's claim holds (suppressionClaims).
func checkSuppressions(t *testing.T, s *synthesized) {
	reports, _ := filepath.Glob(filepath.Join(s.outdir, "AwsSolutions-*"+*s.stack.StackName()+"-NagReport.csv"))
	if len(reports) != 1 {
		t.Fatalf("cdk-nag reports %v, want one", reports)
	}
	f, err := os.Open(reports[0])
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	fired := map[string]bool{} // rule + reason of a Suppressed finding
	for _, r := range rows[1:] {
		if r[2] == "Suppressed" {
			// A suppression limited to some findings is reported as
			// "[Resource::*] reason".
			reason := r[3]
			if strings.HasPrefix(reason, "[") {
				if _, after, ok := strings.Cut(reason, "] "); ok {
					reason = after
				}
			}
			fired[r[0]+"\x00"+reason] = true
		}
	}
	declared := map[string]string{} // rule + reason -> a resource declaring it
	for id, r := range s.doc.Resources {
		nagMeta, _ := r.Metadata["cdk_nag"].(map[string]any)
		sups, _ := nagMeta["rules_to_suppress"].([]any)
		for _, sup := range sups {
			m := sup.(map[string]any)
			declared[fmt.Sprint(m["id"])+"\x00"+fmt.Sprint(m["reason"])] = id
		}
	}
	if len(declared) == 0 {
		t.Fatal("no cdk-nag suppression in the template's metadata; is this the right key?")
	}
	for key, id := range declared {
		rule, reason, _ := strings.Cut(key, "\x00")
		if !fired[key] {
			t.Errorf("%s on %s suppresses nothing (the rule does not fire): remove it", rule, id)
		}
		check, ok := suppressionClaims[rule]
		if !ok {
			t.Errorf("%s: no check of the reason %q", rule, reason)
			continue
		}
		check(t, s, reason)
	}
}

// apiLogRole returns the logical ID of the role API Gateway assumes to
// write logs.
func apiLogRole(s *synthesized) string {
	for id, r := range s.ofType("AWS::IAM::Role") {
		if strings.Contains(render(r.Properties["AssumeRolePolicyDocument"]), "apigateway.amazonaws.com") {
			return id
		}
	}
	return ""
}

// message is an annotation of the cloud assembly.
type message struct {
	Path string
	Type string
	Data any
}

// messages returns the annotations of the synthesized stack, from the
// cloud assembly (its manifest, or the metadata file it names).
func (s *synthesized) messages(t *testing.T) []message {
	t.Helper()
	var manifest struct {
		Artifacts map[string]struct {
			Metadata               map[string][]message
			AdditionalMetadataFile string
		}
	}
	readJSON(t, filepath.Join(s.outdir, "manifest.json"), &manifest)
	art, ok := manifest.Artifacts[*s.stack.ArtifactId()]
	if !ok {
		t.Fatalf("no artifact %s in the cloud assembly", *s.stack.ArtifactId())
	}
	meta := art.Metadata
	if art.AdditionalMetadataFile != "" {
		readJSON(t, filepath.Join(s.outdir, art.AdditionalMetadataFile), &meta)
	}
	var out []message
	for path, ms := range meta {
		for _, m := range ms {
			m.Path = path
			out = append(out, m)
		}
	}
	if len(out) == 0 {
		t.Fatal("the stack's metadata holds no entries; is this the right file?")
	}
	return out
}

// requireTLS checks that a policy of typ on target denies every request
// without TLS.
func requireTLS(t *testing.T, s *synthesized, typ, targetKey, target string) {
	t.Helper()
	for _, pol := range s.ofType(typ) {
		if !slices.Contains(strs(pol.Properties[targetKey]), target) {
			continue
		}
		for _, stmt := range pol.Properties["PolicyDocument"].(map[string]any)["Statement"].([]any) {
			m := stmt.(map[string]any)
			if m["Effect"] == "Deny" && render(m["Condition"]) == `{"Bool":{"aws:SecureTransport":"false"}}` &&
				(render(m["Principal"]) == `{"AWS":"*"}` || m["Principal"] == "*") {
				return
			}
		}
	}
	t.Errorf("no %s denies requests to %s without TLS", typ, target)
}

func readJSON(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}
