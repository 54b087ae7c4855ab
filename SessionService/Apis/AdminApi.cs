using System.ComponentModel;
using Executor.Contracts;
using Executor.SessionCore;
using Executor.SessionCore.Access;
using Executor.SessionCore.Storage;
using Microsoft.AspNetCore.Http.HttpResults;

namespace Executor.Session.Apis;

/// <summary>Routes for operators (an operator key): API keys, and the runner hosts with their state.</summary>
public static class AdminApi
{
    public static RouteGroupBuilder MapAdminApi(this IEndpointRouteBuilder app)
    {
        var api = app.MapGroup("/admin").WithTags("Administration").RequireAuthorization(AccessServiceCollectionExtensions.OperatorPolicy);
        api.MapGet("/hosts", ListHostsAsync)
            .WithName("ListHosts")
            .WithSummary("The runner hosts: alive or dead, last heartbeat, pool, runs in flight");
        api.MapPost("/keys", CreateKeyAsync)
            .WithName("CreateKey")
            .WithSummary("Makes an API key; the key itself is in this answer only")
            .ProducesProblem(StatusCodes.Status400BadRequest);
        api.MapGet("/keys", ListKeysAsync)
            .WithName("ListKeys")
            .WithSummary("The API keys (never the keys themselves)");
        api.MapDelete("/keys/{id}", RevokeKeyAsync)
            .WithName("RevokeKey")
            .WithSummary("Revokes an API key: refused on every replica within 5 s");
        return api;
    }

    public static async Task<Ok<IReadOnlyList<HostRecord>>> ListHostsAsync(IHostDirectory directory, CancellationToken cancellationToken) =>
        TypedResults.Ok(await directory.ListHostsAsync(cancellationToken));

    public static async Task<Results<Created<CreatedKey>, ProblemHttpResult>> CreateKeyAsync(
        NewKeyRequest request, IApiKeyStore keys, TimeProvider time, CancellationToken cancellationToken)
    {
        if (Validate(request) is { } problem)
        {
            return TypedResults.Problem(Problems.Create(StatusCodes.Status400BadRequest, "bad-key-request", "Invalid key request", problem));
        }
        var (id, key, hash) = ApiKeys.New();
        var quotas = new Quotas(request.MaxConcurrentRuns, request.MaxQueued, request.RunsPerMinute, request.MaxTimeoutSeconds, request.MaxMemoryMb,
            request.MaxStoredMb, request.MaxSandboxes, request.MaxSandboxLifetimeSeconds, EgressGate.ReadAllowList(request.EgressHosts).Hosts);
        var record = new ApiKeyRecord(id, request.Name.Trim(), request.Role ?? Roles.User, hash, time.GetUtcNow(), null, quotas);
        await keys.CreateKeyAsync(record, cancellationToken);
        return TypedResults.Created($"/admin/keys/{id}", new CreatedKey(KeyInfo.From(record), key));
    }

    public static async Task<Ok<List<KeyInfo>>> ListKeysAsync(IApiKeyStore keys, CancellationToken cancellationToken) =>
        TypedResults.Ok((await keys.ListKeysAsync(cancellationToken)).Select(KeyInfo.From).ToList());

    public static async Task<Results<NoContent, ProblemHttpResult>> RevokeKeyAsync(string id, IApiKeyStore keys, CancellationToken cancellationToken) =>
        await keys.RevokeKeyAsync(id, cancellationToken)
            ? TypedResults.NoContent()
            : TypedResults.Problem(Problems.Create(StatusCodes.Status404NotFound, "key-not-found", "No such key", $"There is no API key '{id}'."));

    private static string? Validate(NewKeyRequest request)
    {
        if (string.IsNullOrWhiteSpace(request.Name) || request.Name.Length > 100)
        {
            return "'name' is required (1 to 100 characters).";
        }
        if (request.Role is not (null or Roles.User or Roles.Operator))
        {
            return $"'role' must be '{Roles.User}' or '{Roles.Operator}'.";
        }
        foreach (var (field, value, min) in new (string, int?, int)[]
        {
            ("max_concurrent_runs", request.MaxConcurrentRuns, 1), ("max_queued", request.MaxQueued, 0), ("runs_per_minute", request.RunsPerMinute, 1),
            ("max_timeout_seconds", request.MaxTimeoutSeconds, 1), ("max_memory_mb", request.MaxMemoryMb, 16),
            ("max_sandboxes", request.MaxSandboxes, 0),
        })
        {
            if (value < min || value > 100_000)
            {
                return $"'{field}' must be a whole number from {min} to 100000.";
            }
        }
        if (request.MaxStoredMb is < 1 or > 1_048_576)
        {
            return "'max_stored_mb' must be a whole number from 1 to 1048576.";
        }
        if (request.MaxSandboxLifetimeSeconds is < 10 or > 7 * 24 * 3600)
        {
            return "'max_sandbox_lifetime_seconds' must be a whole number from 10 to 604800.";
        }
        if (request.EgressHosts is { Count: > EgressDestinations.MaxDestinations })
        {
            return $"'egress_hosts' may hold at most {EgressDestinations.MaxDestinations} destinations.";
        }
        if (EgressGate.ReadAllowList(request.EgressHosts).Bad is { } bad)
        {
            return $"Each of 'egress_hosts' is host, host:port, host:* or *.domain; not '{bad}'.";
        }
        return null;
    }
}

/// <summary>POST /admin/keys: a key's name, role and quotas (each omitted one is the server's default).</summary>
public sealed record NewKeyRequest(
    string Name,
    [property: Description("user (runs code, sees its own sessions) or operator (also /admin/* and /prewarm?count, sees every session).")] string? Role,
    int? MaxConcurrentRuns,
    int? MaxQueued,
    int? RunsPerMinute,
    int? MaxTimeoutSeconds,
    int? MaxMemoryMb,
    [property: Description("MiB the key's sessions may hold in the store (files, stdin, output, results) until they are purged.")] int? MaxStoredMb = null,
    [property: Description("Stateful sandboxes the key may have alive at once.")] int? MaxSandboxes = null,
    [property: Description("The longest lifetime (and idle timeout) a sandbox of the key may ask for, in seconds.")] int? MaxSandboxLifetimeSeconds = null,
    [property: Description("The network destinations the key's runs and sandboxes may ask for (host, host:port, host:*, *.domain); "
        + "omitted: the deployment's Egress:AllowedHosts; empty: none.")] IReadOnlyList<string>? EgressHosts = null);

/// <summary>A key as operators see it: never the key itself.</summary>
public sealed record KeyInfo(
    string Id, string Name, string Role, DateTimeOffset CreatedAt, DateTimeOffset? RevokedAt,
    int? MaxConcurrentRuns, int? MaxQueued, int? RunsPerMinute, int? MaxTimeoutSeconds, int? MaxMemoryMb, int? MaxStoredMb,
    int? MaxSandboxes = null, int? MaxSandboxLifetimeSeconds = null, IReadOnlyList<string>? EgressHosts = null)
{
    public static KeyInfo From(ApiKeyRecord key) => new(key.Id, key.Name, key.Role, key.CreatedAt, key.RevokedAt,
        key.Quotas.MaxConcurrentRuns, key.Quotas.MaxQueued, key.Quotas.RunsPerMinute, key.Quotas.MaxTimeoutSeconds, key.Quotas.MaxMemoryMb,
        key.Quotas.MaxStoredMb, key.Quotas.MaxSandboxes, key.Quotas.MaxSandboxLifetimeSeconds, key.Quotas.EgressHosts);
}

/// <summary>POST /admin/keys' answer: the key, shown this once (only its hash is kept).</summary>
public sealed record CreatedKey(
    string Id, string Name, string Role, string Key, DateTimeOffset CreatedAt,
    int? MaxConcurrentRuns, int? MaxQueued, int? RunsPerMinute, int? MaxTimeoutSeconds, int? MaxMemoryMb, int? MaxStoredMb,
    int? MaxSandboxes = null, int? MaxSandboxLifetimeSeconds = null, IReadOnlyList<string>? EgressHosts = null)
{
    public CreatedKey(KeyInfo info, string key)
        : this(info.Id, info.Name, info.Role, key, info.CreatedAt, info.MaxConcurrentRuns, info.MaxQueued, info.RunsPerMinute,
            info.MaxTimeoutSeconds, info.MaxMemoryMb, info.MaxStoredMb, info.MaxSandboxes, info.MaxSandboxLifetimeSeconds, info.EgressHosts)
    {
    }

    /// <summary>The same key in the shape E2B's SDKs insist on (E2B_API_KEY): accepted wherever the key is.</summary>
    public string E2bKey => ApiKeys.ToE2bForm(Key);
}
