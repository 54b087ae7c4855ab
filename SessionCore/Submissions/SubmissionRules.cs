using System.Text;
using Executor.SessionCore.Sessions;

namespace Executor.SessionCore.Submissions;

/// <summary>
/// The rules every submission meets, whichever surface built it: an entry point among its files that is not empty, stdin, arguments and limits within the server's
/// bounds, a runtime id that could be one. The files' own rules (names, sizes, counts, zips) are
/// <see cref="WorkingDirectory"/>'s, checked as they arrive. A refusal is an <see cref="UploadRejectedException"/> with
/// the same problem type on every surface.
/// </summary>
public static class SubmissionRules
{
    /// <summary>The field names of the options, as the native API names them and the problems quote them.</summary>
    public const string StdinField = "stdin";
    public const string ArgsField = "args";
    public const string TimeoutField = "timeout_seconds";
    public const string MemoryField = "memory_mb";
    public const string RuntimeField = "runtime";

    public const int MinTimeoutSeconds = 1;
    public const int MinMemoryMb = 16;

    /// <summary>
    /// The submission of the files gathered in <paramref name="directory"/>, running <paramref name="entrypoint"/> (or
    /// main.py, or the only .py file), with <paramref name="options"/>; refused unless every rule holds.
    /// </summary>
    public static Submission Complete(WorkingDirectory directory, string? entrypoint, RunOptions options, SessionServiceOptions limits)
    {
        var entry = directory.ResolveEntrypoint(entrypoint);
        if (directory.Files.First(f => f.Path == entry).Content.Length == 0)
        {
            throw UploadRejectedException.EmptyScript(entry);
        }
        Check(options, limits);
        return new Submission(entry, directory.Files, options);
    }

    /// <summary>The options' rules: stdin's size, the arguments' count and length, the limits' ranges, the runtime id's form.</summary>
    public static void Check(RunOptions options, SessionServiceOptions limits)
    {
        if (options.Stdin is { } stdin && Encoding.UTF8.GetByteCount(stdin) > limits.MaxStdinBytes)
        {
            throw UploadRejectedException.TooLarge($"stdin exceeds the limit of {limits.MaxStdinBytes} bytes.");
        }
        if (options.Args.Count > limits.MaxArgs)
        {
            throw UploadRejectedException.BadRequest("bad-args", "Too many arguments", $"{options.Args.Count} arguments; at most {limits.MaxArgs} are allowed.");
        }
        if (options.Args.FirstOrDefault(a => a.Length > limits.MaxArgLength || a.Contains('\0', StringComparison.Ordinal)) is { } bad)
        {
            throw UploadRejectedException.BadRequest("bad-args", "Unusable argument",
                $"An argument is longer than {limits.MaxArgLength} characters or holds a NUL character ('{bad[..Math.Min(bad.Length, 40)]}...').");
        }
        if (options.TimeoutSeconds is { } timeout && (timeout < MinTimeoutSeconds || timeout > limits.MaxTimeoutSeconds))
        {
            throw BadTimeout(timeout.ToString(System.Globalization.CultureInfo.InvariantCulture), limits);
        }
        if (options.MemoryMb is { } memory && (memory < MinMemoryMb || memory > limits.MaxMemoryMb))
        {
            throw BadMemory(memory.ToString(System.Globalization.CultureInfo.InvariantCulture), limits);
        }
        if (options.Runtime is { } runtime
            && (runtime.Length is 0 or > 63 || !runtime.All(c => char.IsAsciiLetterLower(c) || char.IsAsciiDigit(c) || c is '.' or '_' or '-')))
        {
            throw UploadRejectedException.BadRequest("unknown-runtime", "Unknown runtime",
                $"'{RuntimeField}' is a runtime id such as python-3.11 (GET /runtimes lists them); got '{runtime[..Math.Min(runtime.Length, 63)]}'.");
        }
    }

    /// <summary>A timeout that is not a whole number of seconds within the bounds, as given.</summary>
    public static UploadRejectedException BadTimeout(string given, SessionServiceOptions limits) =>
        BadLimit(TimeoutField, given, MinTimeoutSeconds, limits.MaxTimeoutSeconds, "seconds");

    /// <summary>A memory limit that is not a whole number of MiB within the bounds, as given.</summary>
    public static UploadRejectedException BadMemory(string given, SessionServiceOptions limits) =>
        BadLimit(MemoryField, given, MinMemoryMb, limits.MaxMemoryMb, "MiB");

    private static UploadRejectedException BadLimit(string field, string given, int min, int max, string unit) =>
        UploadRejectedException.BadRequest("bad-limit", $"Invalid {field}",
            $"'{field}' must be a whole number of {unit} from {min} to {max} (the server's maximum); got '{given}'.");
}
