using System.Security.Cryptography;

namespace Executor.SessionCore.Sessions;

public static class SessionIds
{
    /// <summary>128 random bits as 32 lowercase hex characters: unguessable, and safe in URLs, labels and file names.</summary>
    public static string New() => Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(16));

    /// <summary>Rejects anything that could not be an id before it reaches the database.</summary>
    public static bool IsWellFormed(string id) => id.Length is > 0 and <= 64 && id.All(char.IsAsciiLetterOrDigit);
}
