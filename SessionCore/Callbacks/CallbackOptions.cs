using System.ComponentModel.DataAnnotations;

namespace Executor.SessionCore.Callbacks;

/// <summary>Callbacks: a POST of the result to the session's callback_url when it ends ("Callbacks" section).</summary>
public sealed class CallbackOptions
{
    public const string Section = "Callbacks";

    /// <summary>
    /// The HMAC-SHA256 key of the callbacks' signatures (from EXECUTOR_CALLBACK_SECRET too): "whsec_&lt;base64&gt;" as
    /// Standard Webhooks writes it, or any text of 16+ characters (its UTF-8 bytes). Without one, callback_url is
    /// refused: an unsigned callback could not be told from a forgery.
    /// </summary>
    [MinLength(16)]
    public string? SigningSecret { get; set; }

    /// <summary>
    /// Receivers allowed although their addresses are not public: host names ("hooks.internal", "*.corp.example"), addresses
    /// or networks ("127.0.0.1", "10.1.0.0/16"). Everything else must resolve to public addresses only.
    /// </summary>
    public string[] AllowedHosts { get; set; } = [];

    /// <summary>Attempts in all before a callback is given up (the first one included).</summary>
    [Range(1, 100)]
    public int MaxAttempts { get; set; } = 8;

    /// <summary>The wait before the second attempt; it doubles at each further one (1 s: 1, 2, 4 ... 64 s, about 2 minutes over 8 attempts).</summary>
    [Range(0.1, 3600)]
    public double FirstRetrySeconds { get; set; } = 1;

    [Range(1, 86400)]
    public double MaxRetrySeconds { get; set; } = 600;

    /// <summary>How long one attempt may take, connection included.</summary>
    [Range(1, 300)]
    public int TimeoutSeconds { get; set; } = 10;

    /// <summary>How many callbacks one replica delivers at once, to all receivers together.</summary>
    [Range(1, 1024)]
    public int Concurrency { get; set; } = 16;

    /// <summary>
    /// How many of those may go to one receiver (scheme, host and port) at once: a receiver that never answers holds
    /// only these, and every other receiver's deliveries go on.
    /// </summary>
    [Range(1, 1024)]
    public int PerDestinationConcurrency { get; set; } = 4;

    public TimeSpan RetryDelay(int attempts) =>
        TimeSpan.FromSeconds(Math.Min(MaxRetrySeconds, FirstRetrySeconds * Math.Pow(2, Math.Max(0, attempts - 1))));
}
