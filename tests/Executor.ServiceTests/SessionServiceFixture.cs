extern alias gateway;

using System.Net;
using System.Net.Http.Headers;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.Extensions.DependencyInjection;
using Yarp.ReverseProxy.Forwarder;
using GatewayEntry = gateway::Executor.Gateway.ApiDocs.OpenApiAggregator;

namespace Executor.ServiceTests;

/// <summary>
/// SessionService's own host in memory, in the embedded mode (SQLite in a temporary directory), configured as the
/// AppHost configures it, with one <see cref="FakeRunnerHost"/> connected, and the gateway's own host in memory in front
/// of it (its routes, forwarded headers and API docs, proxying to SessionService's in-memory server). In the open mode
/// unless a fixture requires keys.
/// </summary>
public class SessionServiceFixture : IAsyncLifetime
{
    public const string OperatorKey = "service-tests-operator-key-0123456789";
    public const string HostSecret = "service-tests-host-secret-0123456789";

    /// <summary>
    /// The address a request comes from. The in-memory server has no connection: every request comes from loopback (as
    /// the gateway's do) unless it names another address in this header.
    /// </summary>
    public const string RemoteAddressHeader = "X-Test-Remote-Address";

    private readonly DirectoryInfo _data = Directory.CreateTempSubdirectory("executor-service-tests-");

    /// <summary>Whether every caller must present a key (the required mode); else the open mode.</summary>
    protected virtual bool RequireKeys => false;

    /// <summary>Settings a derived fixture adds (configuration keys, as the AppHost passes them).</summary>
    protected virtual IReadOnlyDictionary<string, string> Settings => new Dictionary<string, string>();

    /// <summary>The runtimes the fixture's runner host offers.</summary>
    protected virtual IReadOnlyList<RuntimeInfo> Runtimes => FakeRunnerHost.Runtimes;

    /// <summary>SessionService.</summary>
    public WebApplicationFactory<Program> Factory { get; private set; } = null!;

    /// <summary>The gateway, proxying to <see cref="Factory"/>.</summary>
    public WebApplicationFactory<GatewayEntry> Gateway { get; private set; } = null!;

    public FakeRunnerHost Host { get; private set; } = null!;

    /// <summary>An anonymous caller on this machine, through the gateway (in the open mode, let in).</summary>
    public HttpClient Client { get; private set; } = null!;

    public HttpClient Operator { get; private set; } = null!;

    public virtual async Task InitializeAsync()
    {
        Factory = new WebApplicationFactory<Program>().WithWebHostBuilder(web =>
        {
            web.UseSetting("Sessions:DatabasePath", Path.Combine(_data.FullName, "sessions.db"));
            web.UseSetting("Sessions:HostSecret", HostSecret);
            web.UseSetting("EXECUTOR_OPERATOR_KEY", OperatorKey);
            web.UseSetting("Auth:Mode", RequireKeys ? "required" : "open");
            web.UseSetting("Logging:LogLevel:Default", "Warning");
            foreach (var (key, value) in Settings)
            {
                web.UseSetting(key, value);
            }
            web.ConfigureServices(services => services.AddSingleton<IStartupFilter, RemoteAddressFromHeader>());
        });
        Gateway = new WebApplicationFactory<GatewayEntry>().WithWebHostBuilder(web =>
        {
            web.UseSetting("services:session:http:0", "http://localhost");
            web.UseSetting("Logging:LogLevel:Default", "Warning");
            web.ConfigureServices(services =>
            {
                services.AddSingleton<IStartupFilter, RemoteAddressFromHeader>();
                // Every call the gateway makes (the proxied routes, the API documents it merges) reaches SessionService's server.
                services.AddSingleton<IForwarderHttpClientFactory>(new InMemoryForwarding(Factory));
                services.ConfigureHttpClientDefaults(http => http.ConfigurePrimaryHttpMessageHandler(() => Factory.Server.CreateHandler()));
            });
        });
        Client = With(null);
        Operator = With(OperatorKey);
        Host = new FakeRunnerHost(Factory.CreateClient(), "fake-host-1", HostSecret, Runtimes);
        Host.Start();
        // SessionService refuses submissions while no host is alive: wait until it has heard from this one.
        using var admin = Direct(OperatorKey);
        await ExecutorApi.WaitUntilAsync(async () => (await admin.GetStringAsync("/admin/hosts")).Contains(Host.Name, StringComparison.Ordinal),
            "the runner host is connected");
    }

    /// <summary>A client of the gateway presenting the key (none: anonymous), from loopback or from the address given.</summary>
    public HttpClient With(string? key, string? from = null) => Presenting(Gateway.CreateClient(new WebApplicationFactoryClientOptions { AllowAutoRedirect = false }), key, from);

    /// <summary>A client of SessionService itself, past the gateway.</summary>
    public HttpClient Direct(string? key, string? from = null) => Presenting(Factory.CreateClient(new WebApplicationFactoryClientOptions { AllowAutoRedirect = false }), key, from);

    private static HttpClient Presenting(HttpClient client, string? key, string? from)
    {
        if (key is not null)
        {
            client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", key);
        }
        if (from is not null)
        {
            client.DefaultRequestHeaders.Add(RemoteAddressHeader, from);
        }
        return client;
    }

    /// <summary>Creates a key through the admin API, as an operator does.</summary>
    public Task<(string Id, string Key)> CreateKeyAsync(string name, object? quotas = null, string role = "user") =>
        Operator.CreateKeyAsync(name, quotas, role);

    public virtual async Task DisposeAsync()
    {
        await Host.DisposeAsync();
        await Gateway.DisposeAsync();
        await Factory.DisposeAsync();
        try
        {
            _data.Delete(recursive: true);
        }
        catch (IOException)
        {
        }
    }

    /// <summary>YARP's client of the destinations, made of the in-memory server's handler.</summary>
    private sealed class InMemoryForwarding(WebApplicationFactory<Program> session) : IForwarderHttpClientFactory
    {
        public HttpMessageInvoker CreateClient(ForwarderHttpClientContext context) => new(session.Server.CreateHandler(), disposeHandler: false);
    }

    private sealed class RemoteAddressFromHeader : IStartupFilter
    {
        public Action<IApplicationBuilder> Configure(Action<IApplicationBuilder> next) => app =>
        {
            app.Use((context, following) =>
            {
                var from = context.Request.Headers[RemoteAddressHeader].ToString();
                context.Connection.RemoteIpAddress = from.Length > 0 ? IPAddress.Parse(from) : IPAddress.Loopback;
                context.Request.Headers.Remove(RemoteAddressHeader);
                return following(context);
            });
            next(app);
        };
    }
}

/// <summary>The same service with keys required of every caller.</summary>
public sealed class KeyedServiceFixture : SessionServiceFixture
{
    protected override bool RequireKeys => true;

    // A short rate window, so that a test sees runs_per_minute refuse and recover (as the end-to-end keyed stack).
    protected override IReadOnlyDictionary<string, string> Settings => new Dictionary<string, string> { ["Auth:RateWindowSeconds"] = "6" };
}

/// <summary>The service with a runner host that offers the languages graders' students write besides Python.</summary>
public sealed class LanguagesServiceFixture : SessionServiceFixture
{
    protected override IReadOnlyList<RuntimeInfo> Runtimes => [.. FakeRunnerHost.Runtimes, .. FakeRunnerHost.Languages];
}

/// <summary>The service signing callbacks with the receivers' secret, and allowed to call them on 127.0.0.1.</summary>
public sealed class CallbackServiceFixture : SessionServiceFixture
{
    protected override IReadOnlyDictionary<string, string> Settings => new Dictionary<string, string>
    {
        ["EXECUTOR_CALLBACK_SECRET"] = CallbackReceiver.Secret,
        ["Callbacks:AllowedHosts:0"] = "127.0.0.1",
    };
}
