using System.Security.Cryptography;
using System.Text;

namespace Executor.SessionCore.Access;

/// <summary>
/// API keys: "exk_" + a 12-hex id (to find the key) + "_" + 256 random bits (the secret, base64url). Only the secret's
/// SHA-256 is stored; a key is shown once, when it is made. A random 256-bit secret needs no slow hash: nobody can
/// guess one, so a fast hash leaks nothing, and checking it costs nothing on every request.
/// </summary>
public static class ApiKeys
{
    private const string Prefix = "exk_";

    public static (string Id, string Key, string SecretHash) New()
    {
        var id = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(6));
        var secret = NewSecret();
        return (id, $"{Prefix}{id}_{secret}", Hash(secret));
    }

    /// <summary>The id and secret of a well-formed key; null for anything else (never an exception).</summary>
    public static (string Id, string Secret)? Parse(string key)
    {
        if (!key.StartsWith(Prefix, StringComparison.Ordinal) || key.Length > 128)
        {
            return null;
        }
        var rest = key[Prefix.Length..];
        var separator = rest.IndexOf('_', StringComparison.Ordinal);
        return separator == 12 && rest.Length > 13 ? (rest[..12], rest[13..]) : null;
    }

    /// <summary>256 random bits, base64url: a key's secret, or a sandbox's own token.</summary>
    public static string NewSecret() => Base64Url(RandomNumberGenerator.GetBytes(32));

    private const string E2bPrefix = "e2b_";

    /// <summary>
    /// The key in the shape E2B's SDKs insist on ("e2b_" and lowercase hex: its UTF-8 bytes), so an E2B client can
    /// present an Executor key; <see cref="FromE2bForm"/> reads it back.
    /// </summary>
    public static string ToE2bForm(string key) => E2bPrefix + Convert.ToHexStringLower(Encoding.UTF8.GetBytes(key));

    /// <summary>The key an "e2b_&lt;hex&gt;" form stands for; the presented text itself when it is not that form.</summary>
    public static string FromE2bForm(string presented)
    {
        if (!presented.StartsWith(E2bPrefix, StringComparison.Ordinal) || presented.Length > 2 * 128 + E2bPrefix.Length
            || (presented.Length - E2bPrefix.Length) % 2 != 0)
        {
            return presented;
        }
        try
        {
            return Encoding.UTF8.GetString(Convert.FromHexString(presented.AsSpan(E2bPrefix.Length)));
        }
        catch (FormatException)
        {
            return presented;
        }
    }

    public static string Hash(string secret) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(secret)));

    /// <summary>Whether the secret matches the stored hash, in constant time.</summary>
    public static bool Matches(string secret, string secretHash) =>
        CryptographicOperations.FixedTimeEquals(Encoding.ASCII.GetBytes(Hash(secret)), Encoding.ASCII.GetBytes(secretHash));

    private static string Base64Url(byte[] bytes) => Convert.ToBase64String(bytes).TrimEnd('=').Replace('+', '-').Replace('/', '_');
}

/// <summary>Roles a key has.</summary>
public static class Roles
{
    public const string User = "user";
    public const string Operator = "operator";
}

/// <summary>What one caller may use. Null: the server's default for that quota.</summary>
/// <param name="MaxStoredMb">What the caller's sessions may hold in the store (files, stdin, output, results) until they are purged.</param>
/// <param name="MaxSandboxes">How many stateful sandboxes the caller may have alive at once.</param>
/// <param name="MaxSandboxLifetimeSeconds">The longest a sandbox of the caller's may live (and stay idle).</param>
public sealed record Quotas(
    int? MaxConcurrentRuns, int? MaxQueued, int? RunsPerMinute, int? MaxTimeoutSeconds, int? MaxMemoryMb, int? MaxStoredMb = null,
    int? MaxSandboxes = null, int? MaxSandboxLifetimeSeconds = null, IReadOnlyList<string>? EgressHosts = null)
{
    public static Quotas None { get; } = new(null, null, null, null, null);

    /// <summary>These quotas with the server's defaults where they say nothing.</summary>
    public Quotas Or(Quotas defaults) => new(
        MaxConcurrentRuns ?? defaults.MaxConcurrentRuns, MaxQueued ?? defaults.MaxQueued, RunsPerMinute ?? defaults.RunsPerMinute,
        MaxTimeoutSeconds ?? defaults.MaxTimeoutSeconds, MaxMemoryMb ?? defaults.MaxMemoryMb, MaxStoredMb ?? defaults.MaxStoredMb,
        MaxSandboxes ?? defaults.MaxSandboxes, MaxSandboxLifetimeSeconds ?? defaults.MaxSandboxLifetimeSeconds, EgressHosts ?? defaults.EgressHosts);
}

/// <summary>A key as the store holds it: never the key itself, only its secret's hash.</summary>
public sealed record ApiKeyRecord(
    string Id, string Name, string Role, string SecretHash, DateTimeOffset CreatedAt, DateTimeOffset? RevokedAt, Quotas Quotas);
