// pulumi-language-python for the engine tests: the Python language host, reduced to what
// `pulumi preview`, `up`, `destroy` and `--policy-pack` ask of it.
//
// Why it is not the real one: the real host lives in its own Go module
// (github.com/pulumi/pulumi/sdk/python/cmd/pulumi-language-python/v3), which the module proxy
// these machines reach refuses ("403 Forbidden: This module version is not available").
// Everything this host does is done with the real SDK's pieces at the pinned version: the
// gRPC server and plugin streams (sdk/v3 rpcutil), the virtualenv resolution
// (sdk/v3/python/toolchain), and the program is run by the Python SDK's own
// `pulumi-language-python-exec` shim, with the arguments and environment that the real host
// passes (the same flags, PULUMI_CONFIG and PULUMI_CONFIG_SECRET_KEYS), and the program's
// plugins are reported as the real host reports them (GetRequiredPackages, from the installed
// SDKs' pulumi-plugin.json). What it leaves out:
// dependency installation, typecheckers, debuggers, code generation and `pulumi about`.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource/plugin"
	"github.com/pulumi/pulumi/sdk/v3/go/common/util/rpcutil"
	"github.com/pulumi/pulumi/sdk/v3/go/common/version"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
	"github.com/pulumi/pulumi/sdk/v3/python/toolchain"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/emptypb"
)

// The exec shim exits with this code after it has shown the user an actionable message.
const exitAfterUserMessage = 32

type host struct {
	pulumirpc.UnimplementedLanguageRuntimeServer
	engineAddress string
	execShim      string
}

func main() {
	// The engine passes flags (logging, tracing, root) and then its own address.
	h := &host{}
	for _, arg := range os.Args[1:] {
		if !strings.HasPrefix(arg, "-") {
			h.engineAddress = arg
		}
	}
	self, err := os.Executable()
	if err != nil {
		fail(err)
	}
	h.execShim = filepath.Join(filepath.Dir(self), "pulumi-language-python-exec")
	handle, err := rpcutil.ServeWithOptions(rpcutil.ServeOptions{
		Init: func(srv *grpc.Server) error {
			pulumirpc.RegisterLanguageRuntimeServer(srv, h)
			return nil
		},
	})
	if err != nil {
		fail(err)
	}
	fmt.Printf("%d\n", handle.Port)
	if err := <-handle.Done; err != nil {
		fail(err)
	}
}

func fail(err error) {
	fmt.Fprintf(os.Stderr, "pulumi-language-python: %v\n", err)
	os.Exit(1)
}

func (h *host) Handshake(_ context.Context, req *pulumirpc.LanguageHandshakeRequest) (*pulumirpc.LanguageHandshakeResponse, error) {
	h.engineAddress = req.EngineAddress
	return &pulumirpc.LanguageHandshakeResponse{}, nil
}

func (h *host) GetPluginInfo(context.Context, *emptypb.Empty) (*pulumirpc.PluginInfo, error) {
	return &pulumirpc.PluginInfo{Version: version.Version}, nil
}

// GetRequiredPackages answers as the real host does: every installed Python package that ships a
// pulumi-plugin.json with "resource": true (or, lacking one, is named pulumi-*), as a resource
// package with the name and version that file gives, else derived from the package's own. The
// CLI then looks for exactly those plugin versions (and, with automatic acquisition off, fails
// when one is not installed).
func (h *host) GetRequiredPackages(ctx context.Context, req *pulumirpc.GetRequiredPackagesRequest) (*pulumirpc.GetRequiredPackagesResponse, error) {
	tc, err := resolve(req.Info, "")
	if err != nil {
		return nil, err
	}
	installed, err := tc.ListPackages(ctx, true)
	if err != nil {
		return nil, err
	}
	pluginFiles, err := pluginJSONPaths(ctx, tc, installed)
	if err != nil {
		return nil, err
	}
	packages := []*pulumirpc.PackageDependency{}
	for _, pkg := range installed {
		if _, ok := packagesWithoutPlugins[pkg.Name]; ok {
			continue
		}
		var meta *plugin.PulumiPluginJSON
		if path := pluginFiles[pkg.Name]; path != "" {
			data, err := os.ReadFile(path)
			if err != nil {
				return nil, err
			}
			meta = &plugin.PulumiPluginJSON{}
			if err := json.Unmarshal(data, meta); err != nil {
				return nil, fmt.Errorf("failed to parse pulumi-plugin.json for %s: %w", pkg.Name, err)
			}
		}
		if dep := packageDependency(pkg, meta); dep != nil {
			packages = append(packages, dep)
		}
	}
	return &pulumirpc.GetRequiredPackagesResponse{Packages: packages}, nil
}

// GetRequiredPlugins is not implemented by the real host either: the CLI asks GetRequiredPackages.
func (h *host) GetRequiredPlugins(context.Context, *pulumirpc.GetRequiredPluginsRequest) (*pulumirpc.GetRequiredPluginsResponse, error) {
	return nil, status.Errorf(codes.Unimplemented, "method GetRequiredPlugins not implemented")
}

// Packages known to have no plugin although they carry no pulumi-plugin.json saying so.
var packagesWithoutPlugins = map[string]struct{}{"pulumi-policy": {}, "pulumi-esc-sdk": {}}

// Prints {distribution: path of its package's pulumi-plugin.json, or ""} for the names given.
const findPluginJSON = `import importlib.metadata as md, importlib.util as iu, json, os, sys
out = {}
for name in sys.argv[1:]:
    path = ""
    try:
        spec = iu.find_spec(md.distribution(name).metadata["Name"].replace("-", "_"))
        for where in (spec.submodule_search_locations or []) if spec else []:
            candidate = os.path.join(str(where), "pulumi-plugin.json")
            if os.path.isfile(candidate):
                path = candidate
                break
    except Exception:
        pass
    out[name] = path
print(json.dumps(out))`

func pluginJSONPaths(ctx context.Context, tc toolchain.Toolchain, pkgs []plugin.DependencyInfo) (map[string]string, error) {
	args := []string{"-c", findPluginJSON}
	for _, pkg := range pkgs {
		args = append(args, pkg.Name)
	}
	cmd, err := tc.Command(ctx, args...)
	if err != nil {
		return nil, err
	}
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("finding pulumi-plugin.json files: %w", err)
	}
	paths := map[string]string{}
	return paths, json.Unmarshal(out, &paths)
}

// packageDependency is nil for a package without a resource plugin, or whose plugin version
// cannot be told from its own version.
func packageDependency(pkg plugin.DependencyInfo, meta *plugin.PulumiPluginJSON) *pulumirpc.PackageDependency {
	var name, version, server string
	if meta != nil {
		if !meta.Resource {
			return nil
		}
		name, version, server = meta.Name, meta.Version, meta.Server
	} else if !strings.HasPrefix(pkg.Name, "pulumi-") {
		return nil
	}
	if name == "" {
		name = strings.TrimPrefix(pkg.Name, "pulumi-")
	}
	if version == "" {
		// Only a plain release (N.N.N) maps to a plugin version without guessing; the real host
		// also skips what it cannot map.
		if !plainRelease.MatchString(pkg.Version) {
			return nil
		}
		version = pkg.Version
	}
	if !strings.HasPrefix(version, "v") {
		version = "v" + version
	}
	return &pulumirpc.PackageDependency{Name: name, Version: version, Kind: "resource", Server: server}
}

var plainRelease = regexp.MustCompile(`^[0-9]+\.[0-9]+\.[0-9]+$`)

// InstallDependencies is `pulumi install`: the SDK toolchain creates the virtualenv and runs pip.
func (h *host) InstallDependencies(req *pulumirpc.InstallDependenciesRequest, server pulumirpc.LanguageRuntime_InstallDependenciesServer) error {
	tc, err := resolve(req.Info, "venv")
	if err != nil {
		return err
	}
	closer, stdout, stderr, err := rpcutil.MakeInstallDependenciesStreams(server, req.IsTerminal)
	if err != nil {
		return err
	}
	defer closer.Close()
	if err := tc.InstallDependencies(server.Context(), req.Info.RootDirectory, false, true, stdout, stderr); err != nil {
		return err
	}
	return closer.Close()
}

func resolve(info *pulumirpc.ProgramInfo, defaultVenv string) (toolchain.Toolchain, error) {
	opts := toolchain.PythonOptions{Root: info.RootDirectory, ProgramDir: info.ProgramDirectory,
		Virtualenv: defaultVenv, Toolchain: toolchain.Pip}
	if v, ok := info.Options.AsMap()["virtualenv"].(string); ok && v != "" {
		opts.Virtualenv = v
	}
	if !filepath.IsAbs(opts.Virtualenv) && opts.Virtualenv != "" {
		opts.Virtualenv = filepath.Join(opts.Root, opts.Virtualenv)
	}
	return toolchain.ResolveToolchain(opts)
}

func (h *host) Run(ctx context.Context, req *pulumirpc.RunRequest) (*pulumirpc.RunResponse, error) {
	tc, err := resolve(req.Info, "")
	if err != nil {
		return nil, err
	}
	if err := tc.ValidateVenv(ctx); err != nil {
		return nil, err
	}
	args := []string{h.execShim}
	flag := func(k, v string) {
		if v != "" {
			args = append(args, "--"+k, v)
		}
	}
	flag("monitor", req.GetMonitorAddress())
	flag("engine", h.engineAddress)
	flag("project", req.GetProject())
	flag("root_directory", req.GetInfo().RootDirectory)
	flag("stack", req.GetStack())
	flag("pwd", req.GetPwd())
	flag("dry_run", strconv.FormatBool(req.GetDryRun()))
	flag("parallel", strconv.Itoa(int(req.GetParallel())))
	flag("organization", req.GetOrganization())
	args = append(args, req.Info.EntryPoint)
	args = append(args, req.GetArgs()...)

	config, err := json.Marshal(req.GetConfig())
	if err != nil {
		return nil, err
	}
	secretKeys := req.GetConfigSecretKeys()
	if secretKeys == nil {
		secretKeys = []string{}
	}
	secretJSON, err := json.Marshal(secretKeys)
	if err != nil {
		return nil, err
	}
	cmd, err := tc.Command(ctx, args...)
	if err != nil {
		return nil, err
	}
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	env := cmd.Env
	if env == nil {
		env = os.Environ()
	}
	cmd.Env = append(env, "PULUMI_CONFIG="+string(config), "PULUMI_CONFIG_SECRET_KEYS="+string(secretJSON))
	if err := cmd.Run(); err != nil {
		var exitErr *exec.ExitError
		if errors.As(err, &exitErr) {
			if status, ok := exitErr.Sys().(syscall.WaitStatus); ok && status.ExitStatus() == exitAfterUserMessage {
				return &pulumirpc.RunResponse{Bail: true}, nil
			}
			return &pulumirpc.RunResponse{Error: fmt.Sprintf("program exited with non-zero exit code: %d", exitErr.ExitCode())}, nil
		}
		return &pulumirpc.RunResponse{Error: fmt.Sprintf("could not run the python program: %v", err)}, nil
	}
	return &pulumirpc.RunResponse{}, nil
}

// RunPlugin runs a Python plugin directory (here: the policy pack) with `python <dir>`.
func (h *host) RunPlugin(req *pulumirpc.RunPluginRequest, server pulumirpc.LanguageRuntime_RunPluginServer) error {
	tc, err := resolve(req.Info, "venv")
	if err != nil {
		return err
	}
	cmd, err := tc.Command(server.Context(), append([]string{req.Info.ProgramDirectory}, req.Args...)...)
	if err != nil {
		return err
	}
	closer, stdout, stderr, err := rpcutil.MakeRunPluginStreams(server, false)
	if err != nil {
		return err
	}
	defer closer.Close()
	cmd.Dir = req.Pwd
	cmd.Env = append(cmd.Env, req.Env...)
	cmd.Stdout, cmd.Stderr = stdout, stderr
	if err := cmd.Run(); err != nil {
		var exitErr *exec.ExitError
		if errors.As(err, &exitErr) {
			return server.Send(&pulumirpc.RunPluginResponse{
				Output: &pulumirpc.RunPluginResponse_Exitcode{Exitcode: int32(exitErr.ExitCode())}})
		}
		return err
	}
	return closer.Close()
}
