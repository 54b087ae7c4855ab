using Executor.Contracts;
using Microsoft.AspNetCore.Mvc;

namespace Executor.SessionCore.Access;

/// <summary>
/// What network a run or a sandbox may have: nothing unless it asks, and then only destinations within what the operator
/// allows the caller's key (its own list, set through /admin/keys, or else the deployment's Egress:AllowedHosts). The
/// same for every surface; the runner host's proxy enforces the granted list connection by connection.
/// </summary>
public static class EgressGate
{
    public const string Field = "egress";

    /// <summary>What the operator allows the caller's key: its own list, or the deployment's.</summary>
    public static IReadOnlyList<string> AllowedFor(Caller caller, EgressOptions options) =>
        [.. (caller.Quotas.EgressHosts ?? options.AllowedHosts).Select(EgressDestinations.Normalize).OfType<string>()];

    /// <summary>A request for the destinations as given (checked by <see cref="Grant"/>), or null when none are named.</summary>
    public static EgressPolicy? Request(IEnumerable<string>? destinations) =>
        destinations?.ToList() is { Count: > 0 } list ? new EgressPolicy(list, 0, 0) : null;

    /// <summary>The destination that stands for every one the key is allowed (Judge0's enable_network, E2B's allow_internet_access).</summary>
    public const string Everything = "*";

    /// <summary>A request for every destination the key is allowed, whatever that is when it is granted.</summary>
    public static EgressPolicy RequestAll() => new([Everything], 0, 0);

    /// <summary>
    /// The policy the request is granted (normalized destinations, the deployment's limits), or a 400 naming what is not
    /// allowed. A request for nothing is granted nothing: no network.
    /// </summary>
    public static (EgressPolicy? Policy, ProblemDetails? Problem) Grant(Caller caller, EgressPolicy? requested, EgressOptions options)
    {
        if (requested is null || requested.Destinations.Count == 0)
        {
            return (null, null);
        }
        if (requested.Destinations.Count > EgressDestinations.MaxDestinations)
        {
            return (null, Problems.Create(StatusCodes.Status400BadRequest, "bad-egress", "Too many egress destinations",
                $"'{Field}' names {requested.Destinations.Count} destinations; at most {EgressDestinations.MaxDestinations} are allowed."));
        }
        var allowed = AllowedFor(caller, options);
        if (requested.Destinations.Contains(Everything))
        {
            if (allowed.Count == 0)
            {
                return (null, Problems.Create(StatusCodes.Status400BadRequest, "egress-not-allowed", "Egress not allowed",
                    "This key may reach nothing: the operator allows no egress destination for it."));
            }
            requested = requested with { Destinations = [.. requested.Destinations.Where(d => d != Everything), .. allowed] };
        }
        var unreadable = requested.Destinations.Where(d => EgressDestinations.Normalize(d) is null).ToList();
        if (unreadable.Count > 0)
        {
            return (null, Problems.Create(StatusCodes.Status400BadRequest, "bad-egress", "Unreadable egress destination",
                $"Each of '{Field}' is host, host:port or host:* (host a DNS name, *.domain, an IPv4 address or a bracketed IPv6 "
                + $"address), or '{Everything}' for every destination the key is allowed; not: {string.Join(", ", unreadable.Take(5).Select(d => $"'{Clip(d)}'"))}."));
        }
        var normalized = requested.Destinations.Select(d => EgressDestinations.Normalize(d)!).Distinct(StringComparer.Ordinal).ToList();
        var refused = normalized.Where(d => !EgressDestinations.Covers(allowed, d)).ToList();
        if (refused.Count > 0)
        {
            return (null, Problems.Create(StatusCodes.Status400BadRequest, "egress-not-allowed", "Egress not allowed",
                $"This key may not reach {string.Join(", ", refused.Take(10).Select(d => $"'{d}'"))}. "
                + (allowed.Count == 0
                    ? "It may reach nothing: the operator allows no egress destination for it."
                    : $"It may reach: {string.Join(", ", allowed.Take(20))}.")));
        }
        var maxBytes = requested.MaxBytes > 0 ? Math.Min(requested.MaxBytes, options.MaxBytes) : options.MaxBytes;
        var maxConnections = requested.MaxConnections > 0 ? Math.Min(requested.MaxConnections, options.MaxConnections) : options.MaxConnections;
        return (new EgressPolicy(normalized, maxBytes, maxConnections), null);
    }

    /// <summary>The allow-list entries of a key, normalized, or the entry that is not one.</summary>
    public static (IReadOnlyList<string>? Hosts, string? Bad) ReadAllowList(IEnumerable<string>? entries)
    {
        if (entries is null)
        {
            return (null, null);
        }
        var hosts = new List<string>();
        foreach (var entry in entries)
        {
            if (EgressDestinations.Normalize(entry) is not { } normalized)
            {
                return (null, entry);
            }
            hosts.Add(normalized);
        }
        return (hosts, null);
    }

    private static string Clip(string text) => text.Length > 80 ? text[..80] + "..." : text;
}
