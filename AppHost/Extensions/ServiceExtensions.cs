using Executor.Contracts;

namespace Executor.AppHost;

/// <summary>How the services are wired to each other, to their store and engines, and to the outside.</summary>
internal static class ServiceExtensions
{
    /// <summary>
    /// The service listens on its own port instead of behind the orchestrator's proxy: every run crosses three of these
    /// hops, and each proxy hop costs about a millisecond. The port is the launch profile's, or a free one
    /// (<see cref="ExecutorSettings.RandomServicePorts"/>).
    /// </summary>
    public static IResourceBuilder<ProjectResource> WithDirectEndpoint(this IResourceBuilder<ProjectResource> service, ExecutorSettings executor) =>
        service.WithEndpoint("http", endpoint =>
        {
            endpoint.IsProxied = false;
            if (executor.RandomServicePorts)
            {
                endpoint.Port = endpoint.TargetPort = ExecutorSettings.FreePort();
            }
        });

    /// <summary>A SessionService replica's store: the SQLite file in the data folder, or the distributed mode's PostgreSQL.</summary>
    public static IResourceBuilder<ProjectResource> WithSessionStore(this IResourceBuilder<ProjectResource> session, SessionDatabase? database, ExecutorSettings executor)
    {
        if (database is null)
        {
            return session.WithEnvironment("Sessions__DatabasePath", Path.Combine(executor.DataDirectory, "sessions.db"));
        }
        session.WithReference(database.ConnectionString);
        return database.Server is null ? session : session.WaitFor(database.Server);
    }

    /// <summary>Every SessionService replica under the one name "session" (service discovery spreads calls over them).</summary>
    public static IResourceBuilder<ProjectResource> WithSessions(this IResourceBuilder<ProjectResource> service, IReadOnlyList<IResourceBuilder<ProjectResource>> sessions)
    {
        for (var i = 0; i < sessions.Count; i++)
        {
            service.WithEnvironment($"services__session__http__{i}", sessions[i].GetEndpoint("http"));
        }
        return service.WaitFor(sessions[0]);
    }

    /// <summary>What runner and prewarm of one host share: its name, its engine, and the token they present to each other.</summary>
    public static IResourceBuilder<ProjectResource> WithRunnerHost(this IResourceBuilder<ProjectResource> service, RunnerHost host, IResourceBuilder<ExecutableResource>? engine)
    {
        service.WithEnvironment("Host__InternalToken", host.InternalToken);
        if (host.Name is not null)
        {
            service.WithEnvironment("Sandbox__Host", host.Name);
        }
        if (host.DockerEndpoint is not null)
        {
            service.WithEnvironment("Sandbox__DockerEndpoint", host.DockerEndpoint);
        }
        return engine is null ? service : service.WaitFor(engine);
    }

    /// <summary>
    /// Where the host's egress proxy keeps its per-run sockets and the deployment's certificate authority, unless the
    /// environment says (Egress__SocketDirectory, Egress__CertificateDirectory). Sockets go under a short path (a
    /// Unix socket's path is at most 107 bytes), one directory per deployment and host (/run/executor/egress/&lt;12 hex&gt;); the authority lives with the
    /// deployment's data, so every host of a deployment started here trusts and is trusted the same way.
    /// Executor:EgressCredentials ("host=Header: value", comma-separated) become the proxy's Egress:Credentials.
    /// </summary>
    public static IResourceBuilder<ProjectResource> WithEgress(this IResourceBuilder<ProjectResource> runner, RunnerHost host, ExecutorSettings executor)
    {
        var configuration = runner.ApplicationBuilder.Configuration;
        if (configuration["Egress:SocketDirectory"] is null)
        {
            // Short whatever the deployment's name: a hash of where this deployment's data lives and which host it is.
            var tag = Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(
                System.Text.Encoding.UTF8.GetBytes($"{executor.DataDirectory}|{executor.Deployment}|{host.Suffix}")))[..12];
            runner.WithEnvironment("Egress__SocketDirectory", $"/run/executor/egress/{tag}");
        }
        if (configuration["Egress:CertificateDirectory"] is null)
        {
            runner.WithEnvironment("Egress__CertificateDirectory", Path.Combine(executor.DataDirectory, "egress-ca"));
        }
        var credentials = (executor["EgressCredentials"] ?? "").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        for (var i = 0; i < credentials.Length; i++)
        {
            var (destination, header) = credentials[i].Split('=', 2) is [var d, var h] ? (d, h) : throw new InvalidOperationException(
                "Executor:EgressCredentials holds 'host=Header: value' entries, comma-separated");
            var (name, value) = header.Split(':', 2) is [var n, var v] ? (n.Trim(), v.Trim()) : ("Authorization", header.Trim());
            runner.WithEnvironment($"Egress__Credentials__{i}__Host", destination.Trim())
                .WithEnvironment($"Egress__Credentials__{i}__Header", name)
                .WithEnvironment($"Egress__Credentials__{i}__Value", value);
        }
        return runner;
    }

    /// <summary>
    /// The host's own credential, derived from the deployment's host secret as SessionService checks it: it can act as
    /// this host only (Sandbox:Host's default is the machine's name).
    /// </summary>
    public static IResourceBuilder<ProjectResource> WithHostCredential(this IResourceBuilder<ProjectResource> runner, RunnerHost host, ExecutorSettings executor) =>
        runner.WithEnvironment("Runner__HostToken", HostCredentials.For(executor.HostSecret, host.Name ?? Environment.MachineName));

    /// <summary>
    /// The gateway's endpoint, the only one meant for callers: Executor:GatewayPort (5000), on loopback unless
    /// Executor:GatewayHost says otherwise (0.0.0.0): the open mode's anonymous callers are this machine's.
    /// </summary>
    public static IResourceBuilder<ProjectResource> WithPublicEndpoint(this IResourceBuilder<ProjectResource> gateway, ExecutorSettings executor) =>
        gateway.WithEndpoint("http", endpoint =>
            {
                endpoint.IsProxied = false;
                endpoint.Port = endpoint.TargetPort = int.Parse(executor["GatewayPort"] ?? "5000", System.Globalization.CultureInfo.InvariantCulture);
                if (executor["GatewayHost"] is { } bind)
                {
                    endpoint.TargetHost = bind;
                }
            })
            .WithExternalHttpEndpoints();

    /// <summary>
    /// Every service runs in <see cref="ExecutorSettings.ServiceEnvironment"/> (Production unless Executor:Environment
    /// says otherwise, e.g. <c>./run.sh --dev</c>), whatever its launch profile says: what ./run.sh runs is what the
    /// benchmark measures and what the tests prove.
    /// </summary>
    public static IDistributedApplicationBuilder WithServiceEnvironment(this IDistributedApplicationBuilder builder, ExecutorSettings executor)
    {
        foreach (var service in builder.Resources.OfType<ProjectResource>())
        {
            builder.CreateResourceBuilder(service).WithEnvironment(context =>
            {
                context.EnvironmentVariables["ASPNETCORE_ENVIRONMENT"] = executor.ServiceEnvironment;
                context.EnvironmentVariables["DOTNET_ENVIRONMENT"] = executor.ServiceEnvironment;
            });
        }
        return builder;
    }

    /// <summary>
    /// Every service's telemetry goes to the OTLP/HTTP collector of Executor:OtlpEndpoint (the tests' own) when given,
    /// instead of to the dashboard.
    /// </summary>
    public static IDistributedApplicationBuilder WithTelemetryExport(this IDistributedApplicationBuilder builder, ExecutorSettings executor)
    {
        if (executor["OtlpEndpoint"] is not { } otlp)
        {
            return builder;
        }
        foreach (var service in builder.Resources.OfType<ProjectResource>())
        {
            builder.CreateResourceBuilder(service).WithEnvironment(context =>
            {
                context.EnvironmentVariables["OTEL_EXPORTER_OTLP_ENDPOINT"] = otlp;
                context.EnvironmentVariables["OTEL_EXPORTER_OTLP_PROTOCOL"] = "http/protobuf";
                context.EnvironmentVariables["OTEL_BSP_SCHEDULE_DELAY"] = "500";
            });
        }
        return builder;
    }
}
