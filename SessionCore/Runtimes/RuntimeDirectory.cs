using System.ComponentModel;
using System.Text.Json.Serialization;
using Executor.Contracts;
using Executor.SessionCore.Storage;
using Microsoft.AspNetCore.Mvc;

namespace Executor.SessionCore.Runtimes;

/// <summary>
/// The runtimes scripts can ask for, as the live runner hosts report them in their heartbeats (each host probes its
/// images at start): the hosts' configuration is the one source, so SessionService needs no copy of it. Read at most
/// once a second.
/// </summary>
public sealed class RuntimeDirectory(IHostDirectory directory, TimeProvider time)
{
    private static readonly TimeSpan CacheTime = TimeSpan.FromSeconds(1);

    private (DateTimeOffset At, IReadOnlyList<RuntimeListing> Runtimes) _cache = (DateTimeOffset.MinValue, []);

    /// <summary>Every runtime some live host offers, the default first.</summary>
    public async Task<IReadOnlyList<RuntimeListing>> ListAsync(CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow();
        if (now - _cache.At < CacheTime)
        {
            return _cache.Runtimes;
        }
        var hosts = (await directory.ListHostsAsync(cancellationToken))
            .Where(h => h.State == HostStates.Alive && now - h.LastSeen < HostRoutes.HostTimeout && h.Runtimes is not null)
            .ToList();
        IReadOnlyList<RuntimeListing> runtimes =
        [
            .. hosts.SelectMany(h => h.Runtimes!).GroupBy(r => r.Id, StringComparer.Ordinal).Select(reports =>
            {
                // What a host that could run it found, else what the first host said.
                var best = reports.FirstOrDefault(r => r.Available) ?? reports.First();
                return new RuntimeListing(best.Id, best.Language, best.Version, best.Packages, reports.Any(r => r.Default), best.MemoryMb)
                {
                    LanguageVersion = best.LanguageVersion,
                    Available = reports.Any(r => r.Available),
                    Hosts = reports.Count(r => r.Available),
                    Problem = reports.Any(r => r.Available) ? null : best.Problem,
                };
            })
            .OrderByDescending(r => r.Default).ThenBy(r => r.Id, StringComparer.Ordinal),
        ];
        _cache = (now, runtimes);
        return runtimes;
    }

    /// <summary>
    /// The runtime a program of <paramref name="entrypoint"/>'s language runs in when the submission names none: the
    /// default one for Python (or any file the default runtime's language takes), else the first runtime some host can run
    /// that is of the file's language (by id); null when there is none (<see cref="ResolveAsync"/> then refuses it with the
    /// default runtime's mismatch).
    /// </summary>
    public async Task<string?> ForEntrypointAsync(string entrypoint, CancellationToken cancellationToken)
    {
        var runtimes = await ListAsync(cancellationToken);
        if (runtimes.FirstOrDefault(r => r.Default) is { } standard && SourceLanguages.Fits(standard.Language, entrypoint))
        {
            return null;
        }
        var language = SourceLanguages.OfFile(entrypoint);
        return runtimes.Where(r => r.Language == language).OrderByDescending(r => r.Available).ThenBy(r => r.Id, StringComparer.Ordinal).FirstOrDefault()?.Id;
    }

    /// <summary>The language of a runtime (the default one's for null); null when no live host lists it.</summary>
    public async Task<string?> LanguageOfAsync(string? runtime, CancellationToken cancellationToken) =>
        (await ListAsync(cancellationToken)).FirstOrDefault(r => runtime is null ? r.Default : r.Id == runtime)?.Language;

    /// <summary>
    /// A problem when the entry point is not a program of the runtime's language (a .c file for python-3.11); null when it
    /// is, or when the runtime is not listed (no host reports runtimes: the hosts decide).
    /// </summary>
    public async Task<ProblemDetails?> MismatchAsync(string? runtime, string entrypoint, CancellationToken cancellationToken)
    {
        var runtimes = await ListAsync(cancellationToken);
        var listing = runtimes.FirstOrDefault(r => r.Id == runtime) ?? (runtime is null ? runtimes.FirstOrDefault(r => r.Default) : null);
        if (listing is null || SourceLanguages.Fits(listing.Language, entrypoint))
        {
            return null;
        }
        var language = SourceLanguages.OfFile(entrypoint);
        var fitting = runtimes.Where(r => r.Language == language).Select(r => r.Id).ToList();
        return Problems.Create(StatusCodes.Status400BadRequest, "entrypoint-language-mismatch", "Wrong language for this runtime",
            $"The entry point '{entrypoint}' is not a {listing.Language} program, which the runtime '{listing.Id}' runs. "
            + (fitting.Count > 0 ? $"Runtimes of its language: {string.Join(", ", fitting)}." : $"No runtime here runs {language ?? "it"}."));
    }

    /// <summary>
    /// The runtime a submission runs in: the one it names, or the default; or a problem: 400 for a runtime no live host
    /// offers (listing those that are offered), 503 for one that every host offering it found unusable (its image is
    /// missing). With no host reporting runtimes at all, the request's own value passes unchanged (the hosts decide).
    /// </summary>
    public async Task<(string? Runtime, ProblemDetails? Problem)> ResolveAsync(string? requested, CancellationToken cancellationToken)
    {
        var runtimes = await ListAsync(cancellationToken);
        if (runtimes.Count == 0)
        {
            return (requested, null);
        }
        if (requested is null)
        {
            return (runtimes.FirstOrDefault(r => r.Default)?.Id, null);
        }
        var known = string.Join(", ", runtimes.Select(r => r.Id));
        if (runtimes.FirstOrDefault(r => r.Id == requested) is not { } runtime)
        {
            var problem = Problems.Create(StatusCodes.Status400BadRequest, "unknown-runtime", "Unknown runtime",
                $"There is no runtime '{requested}'. Known runtimes: {known} (GET /runtimes describes them).");
            problem.Extensions["runtimes"] = runtimes.Select(r => r.Id).ToArray();
            return (null, problem);
        }
        if (!runtime.Available && runtime.Problem is not null)
        {
            return (null, Problems.Create(StatusCodes.Status503ServiceUnavailable, "runtime-unavailable", "Runtime unavailable",
                $"No runner host can run '{requested}' now: {runtime.Problem}. Nothing was stored."));
        }
        return (runtime.Id, null);
    }
}

/// <summary>A runtime, as GET /runtimes lists it.</summary>
public sealed record RuntimeListing(
    [property: Description("What a request names in its 'runtime' field, e.g. python-3.11-data.")] string Id,
    [property: Description("The language, e.g. python.")] string Language,
    [property: Description("The language's version, e.g. 3.11.")] string Version,
    [property: Description("Installed packages beyond the standard library, name to version, as found in the runtime's image.")]
    IReadOnlyDictionary<string, string> Packages,
    [property: Description("Whether requests that name no runtime get this one.")] bool Default,
    [property: Description("The memory limit runs get unless they ask for another (memory_mb); a warm container needs this one.")]
    int MemoryMb)
{
    [Description("The interpreter's exact version, e.g. 3.11.2.")]
    public string? LanguageVersion { get; init; }

    [Description("Whether some runner host can run it now.")]
    public bool Available { get; init; }

    [Description("How many live runner hosts can run it.")]
    public int Hosts { get; init; }

    [Description("Why no host can run it, when none can.")]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? Problem { get; init; }
}
