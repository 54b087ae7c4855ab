using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using StandardWebhooks;

namespace Executor.SessionCore.Callbacks;

/// <summary>
/// Signs callbacks in the Standard Webhooks format (https://www.standardwebhooks.com), what receivers' own libraries
/// verify: webhook-id (the session's id: one per session, the same on every retry, so a receiver deduplicates by it),
/// webhook-timestamp (unix seconds) and webhook-signature ("v1,&lt;base64 HMAC-SHA256 of id.timestamp.body&gt;").
/// The id and the body both name the session, so a delivery cannot pass for another session's, and the timestamp is
/// signed, so a receiver refuses an old one replayed. The key is Callbacks:SigningSecret: "whsec_&lt;base64&gt;" as the
/// standard writes it, or any other text, whose UTF-8 bytes are the key.
/// X-Executor-Signature, the format before it, is sent beside it for one release.
/// </summary>
public static class CallbackSigner
{
    public const string IdHeader = "webhook-id";
    public const string TimestampHeader = "webhook-timestamp";
    public const string SignatureHeader = "webhook-signature";

    /// <summary>The previous format ("t=...,v1=hex"), kept for one release so that receivers can move.</summary>
    public const string LegacyHeader = "X-Executor-Signature";

    private const string SecretPrefix = "whsec_";

    /// <summary>The HMAC key a secret stands for: the bytes after "whsec_", else the text's UTF-8 bytes.</summary>
    public static byte[] Key(string secret) =>
        secret.StartsWith(SecretPrefix, StringComparison.Ordinal) ? Convert.FromBase64String(secret[SecretPrefix.Length..]) : Encoding.UTF8.GetBytes(secret);

    /// <summary>Whether a secret can be used: a "whsec_" one must carry valid base64.</summary>
    public static bool IsValidSecret(string? secret)
    {
        if (secret is null || !secret.StartsWith(SecretPrefix, StringComparison.Ordinal))
        {
            return true;
        }
        var encoded = secret[SecretPrefix.Length..];
        return encoded.Length > 0 && Convert.TryFromBase64String(encoded, new byte[encoded.Length], out _);
    }

    /// <summary>The headers that sign <paramref name="body"/> as the delivery <paramref name="id"/> at <paramref name="timestamp"/>.</summary>
    public static IReadOnlyList<KeyValuePair<string, string>> Headers(string secret, string id, DateTimeOffset timestamp, ReadOnlySpan<byte> body)
    {
        var text = Encoding.UTF8.GetString(body); // the body is UTF-8 JSON: the same bytes again
        return
        [
            new(IdHeader, id),
            new(TimestampHeader, timestamp.ToUnixTimeSeconds().ToString(CultureInfo.InvariantCulture)),
            new(SignatureHeader, new StandardWebhook(Key(secret)).Sign(id, timestamp, text)),
            new(LegacyHeader, SignLegacy(secret, timestamp, body)),
        ];
    }

    /// <summary>X-Executor-Signature: "t=&lt;unix seconds&gt;,v1=&lt;hex HMAC-SHA256 of "&lt;t&gt;." and the body&gt;".</summary>
    public static string SignLegacy(string secret, DateTimeOffset timestamp, ReadOnlySpan<byte> body)
    {
        var t = timestamp.ToUnixTimeSeconds().ToString(CultureInfo.InvariantCulture);
        var signed = new byte[t.Length + 1 + body.Length];
        Encoding.ASCII.GetBytes(t + ".", signed);
        body.CopyTo(signed.AsSpan(t.Length + 1));
        return $"t={t},v1={Convert.ToHexStringLower(HMACSHA256.HashData(Encoding.UTF8.GetBytes(secret), signed))}"; // keyed as before, whatever the secret's form
    }
}
