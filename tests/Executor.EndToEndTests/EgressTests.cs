using System.Net;
using System.Net.Http.Json;
using System.Text.Json;

namespace Executor.EndToEndTests;

/// <summary>
/// A stack whose keys may reach the tests' own servers on 127.0.0.2 and 127.0.0.3 (and ask for localhost, which the
/// proxy must then refuse: its addresses are not among the allowed private ones). The proxy adds a credential to
/// requests for 127.0.0.2 (over HTTPS by interception) and trusts the tests' origin authority upstream.
/// </summary>
public sealed class EgressStackFixture : StackFixture
{
    public const string CredentialHeader = "X-Egress-Test-Key";

    public override string Deployment => "tests-egress";

    protected override int DataPoolSize => 0;

    /// <summary>The credential the proxy adds for 127.0.0.2: new for every stack, so no other source could hold it.</summary>
    public string Secret { get; } = "egress-secret-" + Convert.ToHexStringLower(System.Security.Cryptography.RandomNumberGenerator.GetBytes(12));

    public OriginAuthority Authority { get; } = new();

    /// <summary>Plain HTTP and HTTPS on 127.0.0.2, the credentialed host.</summary>
    public EgressOrigin Credentialed { get; private set; } = null!;

    public EgressOrigin CredentialedTls { get; private set; } = null!;

    /// <summary>Plain HTTP on 127.0.0.3: the package index, the downloads.</summary>
    public EgressOrigin Plain { get; private set; } = null!;

    private string _authorityFile = "";

    protected override IEnumerable<string> ExtraArguments =>
    [
        "--Executor:EgressAllowedHosts=127.0.0.2:*,127.0.0.3:*,localhost:*",
        "--Executor:EgressAllowedPrivateAddresses=127.0.0.2/32,127.0.0.3/32",
        $"--Executor:EgressMaxBytes={2 * 1024 * 1024}",
        "--Executor:EgressMaxConnections=12",
        $"--Executor:EgressUpstreamCaFile={_authorityFile}",
        $"--Executor:EgressCredentials=127.0.0.2={CredentialHeader}: {Secret}",
    ];

    public override async Task InitializeAsync()
    {
        Credentialed = new EgressOrigin(IPAddress.Parse("127.0.0.2"));
        CredentialedTls = new EgressOrigin(IPAddress.Parse("127.0.0.2"), Authority.Issue("127.0.0.2"));
        Plain = new EgressOrigin(IPAddress.Parse("127.0.0.3"));
        _authorityFile = Path.Combine(DataDirectory, "origin-authority.pem");
        Directory.CreateDirectory(DataDirectory);
        await File.WriteAllTextAsync(_authorityFile, Authority.Pem);
        await base.InitializeAsync();
        await CollectLogsAsync(Logs, "session");
    }

    /// <summary>SessionService's log lines (the audit trail among them), from the start.</summary>
    public List<string> Logs { get; } = [];

    public override async Task DisposeAsync()
    {
        await base.DisposeAsync();
        await Credentialed.DisposeAsync();
        await CredentialedTls.DisposeAsync();
        await Plain.DisposeAsync();
        Authority.Dispose();
    }
}

[CollectionDefinition(Name)]
public sealed class EgressCollection : ICollectionFixture<EgressStackFixture>
{
    public const string Name = "8 egress";
}

/// <summary>
/// Egress through real services and real containers: the only way out of a sandbox is its own proxy socket, which
/// allows only the run's destinations, resolves names itself, refuses private addresses, adds the operator's
/// credential out of the script's reach, bounds bytes and connections, and records every attempt in the result.
/// </summary>
[Collection(EgressCollection.Name)]
public sealed class EgressTests(EgressStackFixture stack)
{
    private static readonly string[] LocalhostAddresses = ["127.0.0.1", "::1"];

    private const string Fetch = """
        import sys, urllib.request, urllib.error
        def fetch(url):
            try:
                with urllib.request.urlopen(url, timeout=10) as r:
                    return f"{r.status} {r.read().decode()}"
            except urllib.error.HTTPError as e:
                return f"{e.code} refused"
            except Exception as e:
                return f"failed {type(e).__name__}: {e}"
        """;

    private static (string, string) Egress(string destination) => ("egress", destination);

    private static string Stdout(JsonElement result) => result.GetProperty("stdout").GetString()!;

    private static JsonElement[] Connections(JsonElement result) => [.. result.GetProperty("egress").EnumerateArray()];

    private static string Describe(JsonElement result) =>
        $"{result.GetProperty("status")}: {result.GetProperty("detail")} / {result.GetProperty("logs")} / egress {(result.TryGetProperty("egress", out var e) ? e.ToString() : "none")}";

    [Fact]
    public async Task An_allowed_destination_answers_one_not_asked_for_is_refused_and_both_are_recorded()
    {
        stack.Plain.Serve("/hello", "hello through the proxy");
        var result = await stack.Gateway.RunAsync(Fetch + $"""

            print(fetch("http://{stack.Plain.Destination}/hello"))
            print(fetch("http://127.0.0.2:{stack.Credentialed.Port}/never"))
            """, Egress(stack.Plain.Destination));

        Assert.True(result.GetProperty("status").GetString() == "completed", Describe(result));
        Assert.Equal($"200 hello through the proxy\n403 refused\n", Stdout(result));
        var (allowed, refused) = (Connections(result)[0], Connections(result)[1]);
        Assert.Equal((stack.Plain.Destination, true, "127.0.0.3"),
            (allowed.GetProperty("destination").GetString(), allowed.GetProperty("allowed").GetBoolean(), allowed.GetProperty("address").GetString()));
        Assert.True(allowed.GetProperty("bytes_received").GetInt64() > 0 && allowed.GetProperty("bytes_sent").GetInt64() > 0);
        Assert.Equal(($"127.0.0.2:{stack.Credentialed.Port}", false, "not_allowed"),
            (refused.GetProperty("destination").GetString(), refused.GetProperty("allowed").GetBoolean(), refused.GetProperty("refused").GetString()));
        Assert.DoesNotContain(stack.Credentialed.Requests, r => r.StartsWith("GET /never", StringComparison.Ordinal)); // never reached
    }

    [Fact]
    public async Task Every_attempt_is_in_the_run_s_trace_and_the_audit_log()
    {
        stack.Plain.Serve("/traced", "traced");
        var sessionId = await stack.Gateway.SubmitAsync(Fetch + $"""

            print(fetch("http://{stack.Plain.Destination}/traced"))
            print(fetch("http://127.0.0.3:1/"))
            """, Egress(stack.Plain.Destination));
        var result = await stack.Gateway.WaitForResultAsync(sessionId);
        Assert.Equal("200 traced\n403 refused\n", Stdout(result));

        await ExecutorApi.WaitUntilAsync(() => Task.FromResult(stack.Telemetry.Spans.Count(s => s.Name == "egress connection"
            && s.Attributes.GetValueOrDefault("executor.run_id") == sessionId) == 2), "both connections' spans are exported");
        var spans = stack.Telemetry.Spans.Where(s => s.Name == "egress connection" && s.Attributes.GetValueOrDefault("executor.run_id") == sessionId).ToList();
        var runTrace = stack.Telemetry.Spans.First(s => s.Attributes.GetValueOrDefault("executor.session_id") == sessionId).TraceId;
        Assert.All(spans, s => Assert.Equal(runTrace, s.TraceId)); // in the run's own trace
        Assert.Contains(spans, s => s.Attributes.GetValueOrDefault("egress.refused") == "not_allowed");

        await ExecutorApi.WaitUntilAsync(() =>
        {
            lock (stack.Logs)
            {
                return Task.FromResult(stack.Logs.Count(l => l.Contains($"Egress: caller anonymous, session {sessionId}", StringComparison.Ordinal)) == 2);
            }
        }, "both attempts are in the audit log");
        lock (stack.Logs)
        {
            Assert.Contains(stack.Logs, l => l.Contains($"session {sessionId}, {stack.Plain.Destination} allowed", StringComparison.Ordinal));
            Assert.Contains(stack.Logs, l => l.Contains($"session {sessionId}, 127.0.0.3:1 refused not_allowed", StringComparison.Ordinal));
        }
    }

    [Fact]
    public async Task A_name_that_resolves_to_a_private_address_is_refused_after_resolution()
    {
        var result = await stack.Gateway.RunAsync(Fetch + $"""

            print(fetch("http://localhost:{stack.Plain.Port}/"))
            """, Egress($"localhost:{stack.Plain.Port}"));

        Assert.Equal("403 refused\n", Stdout(result));
        var refused = Assert.Single(Connections(result));
        Assert.Equal("private_address", refused.GetProperty("refused").GetString());
        Assert.Contains(refused.GetProperty("address").GetString(), LocalhostAddresses);
    }

    [Fact]
    public async Task With_egress_on_raw_sockets_udp_dns_direct_connections_and_the_host_stay_out_of_reach()
    {
        var result = await stack.Gateway.RunAsync($$"""
            import os, socket
            def attempt(name, action):
                try:
                    action()
                    print(name, "REACHED")
                except OSError as e:
                    print(name, "failed", e.errno)
            attempt("direct tcp to the allowed server", lambda: socket.create_connection(("127.0.0.3", {{stack.Plain.Port}}), timeout=2))
            attempt("tcp to the internet", lambda: socket.create_connection(("1.1.1.1", 443), timeout=2))
            attempt("tcp to the engine's bridge", lambda: socket.create_connection(("172.17.0.1", 2375), timeout=2))
            attempt("dns", lambda: socket.getaddrinfo("example.com", 80))
            attempt("udp", lambda: socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(b"x", ("1.1.1.1", 53)))
            attempt("raw", lambda: socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP))
            attempt("engine socket", lambda: socket.socket(socket.AF_UNIX).connect("/var/run/docker.sock"))
            print("interfaces", [name for _, name in socket.if_nameindex()])
            print("proxy directory", sorted(os.listdir("/run/executor/egress")))
            import urllib.request
            for target in ["http://127.0.0.1:{{stack.Gateway.BaseAddress!.Port}}/health", "http://{{stack.Plain.Address}}:1/"]:
                try:
                    urllib.request.urlopen(target, timeout=5)
                    print(target, "REACHED")
                except Exception as e:
                    print("via the proxy", getattr(e, "code", type(e).__name__))
            """, Egress($"{stack.Plain.Address}:{stack.Plain.Port}"), ("timeout_seconds", "30"));

        var stdout = Stdout(result);
        Assert.True(result.GetProperty("status").GetString() == "completed", Describe(result));
        Assert.DoesNotContain("REACHED", stdout, StringComparison.Ordinal);
        Assert.Contains("interfaces ['lo']", stdout, StringComparison.Ordinal); // no interface but its own loopback
        Assert.Contains("proxy directory ['proxy.sock']", stdout, StringComparison.Ordinal);
        Assert.Equal(2, stdout.Split('\n').Count(l => l == "via the proxy 403"));
        Assert.All(Connections(result), c => Assert.False(c.GetProperty("allowed").GetBoolean()));
    }

    [Fact]
    public async Task A_configured_credential_reaches_the_server_over_http_and_https_and_never_the_script()
    {
        stack.Credentialed.Serve("/api", "plain answer");
        stack.CredentialedTls.Serve("/api", "tls answer");
        var result = await stack.Gateway.RunAsync(Fetch + $$"""

            import os, re
            print(fetch("http://127.0.0.2:{{stack.Credentialed.Port}}/api"))
            print(fetch("https://127.0.0.2:{{stack.CredentialedTls.Port}}/api"))
            # Any string of the secret's shape is the secret: nothing else here could make one.
            shape = re.compile(rb"egress-secret-[0-9a-f]{24}")
            found = [k for k, v in os.environ.items() if shape.search(v.encode())]
            for top in ["/sandbox", "/tmp", "/run", "/etc", "/home"]:
                for root, _, files in os.walk(top):
                    for name in files:
                        try:
                            with open(os.path.join(root, name), "rb") as f:
                                if shape.search(f.read(1 << 20)):
                                    found.append(os.path.join(root, name))
                        except OSError:
                            pass
            # Its own memory, read in place (its /proc/self/mem is closed to it: the process is not dumpable). A canary
            # of the same shape, made at run time, proves the scan sees what the process holds.
            import ctypes
            canary = "egress-canary-" + "".join(reversed("76543210fedcba9876543210"))
            canary_shape, canary_seen = re.compile(rb"egress-canary-[0-9a-f]{24}"), False
            with open("/proc/self/maps") as maps:
                for line in maps:
                    fields = line.split()
                    start, end = (int(x, 16) for x in fields[0].split("-"))
                    # Anonymous memory (heap, stack, the allocator's arenas): a file's mapping holds what the file does,
                    # and reading past a file's end raises SIGBUS.
                    anonymous = len(fields) == 5 or fields[-1] in ("[heap]", "[stack]")
                    if not fields[1].startswith("r") or not anonymous or end - start > 1 << 25:
                        continue
                    region = ctypes.string_at(start, end - start)
                    if shape.search(region):
                        found.append(fields[-1])
                    canary_seen = canary_seen or canary_shape.search(region) is not None
            print("canary seen", canary_seen)
            print("secret found in", found)
            """, Egress("127.0.0.2:*"), ("timeout_seconds", "30"));

        var stdout = Stdout(result);
        Assert.True(result.GetProperty("status").GetString() == "completed", Describe(result));
        Assert.Contains("200 plain answer\n200 tls answer\n", stdout, StringComparison.Ordinal);
        Assert.Contains("canary seen True", stdout, StringComparison.Ordinal);
        Assert.Contains("secret found in []", stdout, StringComparison.Ordinal);
        Assert.Contains(stack.Credentialed.Requests, r => r.Contains($"{EgressStackFixture.CredentialHeader}: {stack.Secret}", StringComparison.OrdinalIgnoreCase));
        Assert.Contains(stack.CredentialedTls.Requests, r => r.Contains($"{EgressStackFixture.CredentialHeader}: {stack.Secret}", StringComparison.OrdinalIgnoreCase));
        var tls = Connections(result).Single(c => c.GetProperty("destination").GetString() == $"127.0.0.2:{stack.CredentialedTls.Port}");
        Assert.True(tls.GetProperty("intercepted").GetBoolean());
        Assert.DoesNotContain(stack.Secret, result.GetRawText(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Pip_installs_a_wheel_from_an_index_on_loopback_and_it_imports_in_the_same_run()
    {
        stack.Plain.ServePackage("egress_probe", "installed through the proxy");
        var result = await stack.Gateway.RunAsync($$"""
            import subprocess, sys
            pip = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--index-url", "http://{{stack.Plain.Destination}}/simple",
                                  "--trusted-host", "{{stack.Plain.Destination}}", "egress-probe"], capture_output=True, text=True)
            print("pip", pip.returncode, pip.stderr[-500:])
            import egress_probe
            print(egress_probe.VALUE, egress_probe.__file__)
            """, Egress(stack.Plain.Destination), ("timeout_seconds", "50"));

        Assert.True(result.GetProperty("status").GetString() == "completed", Describe(result));
        Assert.Contains("pip 0 ", Stdout(result), StringComparison.Ordinal);
        Assert.Contains("installed through the proxy /sandbox/.local/", Stdout(result), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_stateful_sandbox_with_egress_installs_in_one_call_and_imports_in_the_next()
    {
        stack.Plain.ServePackage("egress_kernel_probe", "kept for the next call");
        using var created = await stack.Gateway.PostAsJsonAsync("/sandboxes", new { egress = new[] { stack.Plain.Destination } });
        Assert.Equal(HttpStatusCode.Created, created.StatusCode);
        var id = (await created.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("sandbox_id").GetString()!;
        try
        {
            var install = await CallAsync(id, $$"""
                import subprocess, sys
                pip = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--index-url", "http://{{stack.Plain.Destination}}/simple",
                                      "--trusted-host", "{{stack.Plain.Destination}}", "egress-kernel-probe"], capture_output=True, text=True)
                print("pip", pip.returncode, pip.stderr[-300:])
                """);
            Assert.Contains("pip 0", install.GetProperty("stdout").GetString(), StringComparison.Ordinal);
            Assert.Contains(install.GetProperty("egress").EnumerateArray(), c => c.GetProperty("allowed").GetBoolean());

            var imported = await CallAsync(id, "import egress_kernel_probe\nprint(egress_kernel_probe.VALUE)\n");
            Assert.Equal("kept for the next call\n", imported.GetProperty("stdout").GetString());
            Assert.Empty(imported.GetProperty("egress").EnumerateArray()); // each call reports its own connections
        }
        finally
        {
            (await stack.Gateway.DeleteAsync($"/sandboxes/{id}")).Dispose();
        }
    }

    private async Task<JsonElement> CallAsync(string sandboxId, string code)
    {
        using var response = await stack.Gateway.PostAsJsonAsync($"/sandboxes/{sandboxId}/run", new { code, timeout_seconds = 50 });
        var call = await response.Content.ReadFromJsonAsync<JsonElement>();
        Assert.True(response.StatusCode == HttpStatusCode.OK, $"{response.StatusCode}: {call}");
        return call;
    }

    [Fact]
    public async Task Passing_the_byte_or_the_connection_limit_ends_the_run_clearly()
    {
        stack.Plain.ServeZeros("/big", 8L * 1024 * 1024); // four times the stack's 2 MiB
        var bytes = await stack.Gateway.RunAsync(Fetch + $"""

            import time
            print(fetch("http://{stack.Plain.Destination}/big")[:3])
            time.sleep(20)
            print("NOT STOPPED")
            """, Egress(stack.Plain.Destination), ("timeout_seconds", "30"));
        Assert.True(bytes.GetProperty("status").GetString() == "egress_limit_exceeded", Describe(bytes));
        Assert.Contains("bytes", bytes.GetProperty("detail").GetString(), StringComparison.Ordinal);
        Assert.DoesNotContain("NOT STOPPED", Stdout(bytes), StringComparison.Ordinal);
        Assert.Contains(Connections(bytes), c => c.GetProperty("refused").GetString() == "byte_limit");

        stack.Plain.Serve("/small", "ok");
        var connections = await stack.Gateway.RunAsync(Fetch + $"""

            import time
            for _ in range(20):
                fetch("http://{stack.Plain.Destination}/small")
            time.sleep(20)
            print("NOT STOPPED")
            """, Egress(stack.Plain.Destination), ("timeout_seconds", "30"));
        Assert.True(connections.GetProperty("status").GetString() == "egress_limit_exceeded", Describe(connections));
        Assert.Contains("connections", connections.GetProperty("detail").GetString(), StringComparison.Ordinal);
        Assert.DoesNotContain("NOT STOPPED", Stdout(connections), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_run_that_asks_for_no_egress_has_no_proxy_and_no_record()
    {
        var result = await stack.Gateway.RunAsync("""
            import os
            print(os.environ.get("HTTP_PROXY"), os.path.exists("/run/executor/egress"))
            """);
        Assert.Equal("None False\n", Stdout(result));
        Assert.False(result.TryGetProperty("egress", out _));
        Assert.True(result.GetProperty("warm_start").GetBoolean()); // unchanged: still a warm container
    }
}

/// <summary>Under gVisor a sandbox cannot reach its host's proxy socket: a run that asks for egress is refused, clearly.</summary>
[Collection(GvisorCollection.Name)]
public sealed class EgressUnderGvisorTests(GvisorStackFixture stack)
{
    [Fact]
    public async Task A_run_with_egress_is_refused_with_the_reason_and_one_without_runs()
    {
        var result = await stack.Gateway.RunAsync("print('never')\n", ("egress", "127.0.0.3:8080"));
        Assert.Equal("internal_error", result.GetProperty("status").GetString());
        Assert.Contains("gVisor", result.GetProperty("detail").GetString(), StringComparison.Ordinal);
        Assert.Equal("completed", (await stack.Gateway.RunAsync("print(1)\n")).GetProperty("status").GetString());
    }
}
