using System.Globalization;
using System.Text;
using System.Text.Json;
using Executor.SessionCore.Sessions;
using Executor.SessionCore.Submissions;

namespace Executor.Session.Uploads;

/// <summary>Reads the optional form fields: stdin, args, timeout_seconds and memory_mb.</summary>
public static class RunOptionsReader
{
    public const string StdinField = "stdin";
    public const string ArgsField = "args";
    public const string TimeoutField = "timeout_seconds";
    public const string MemoryField = "memory_mb";
    public const string StdinModeField = "stdin_mode";
    public const string CallbackField = "callback_url";
    public const string RuntimeField = "runtime";

    public static RunOptions Read(IFormCollection form, SessionServiceOptions options)
    {
        var stdin = form.TryGetValue(StdinField, out var stdinValues) ? stdinValues.ToString() : null;
        if (stdin is not null && Encoding.UTF8.GetByteCount(stdin) > options.MaxStdinBytes)
        {
            throw UploadRejectedException.TooLarge($"stdin exceeds the limit of {options.MaxStdinBytes} bytes.");
        }
        return new RunOptions(
            Args(form, options),
            stdin,
            Number(form, TimeoutField, 1, options.MaxTimeoutSeconds, "seconds"),
            Number(form, MemoryField, 16, options.MaxMemoryMb, "MiB"),
            Interactive(form),
            form.TryGetValue(CallbackField, out var callback) && !string.IsNullOrWhiteSpace(callback.ToString()) ? callback.ToString().Trim() : null,
            Runtime(form));
    }

    /// <summary>The runtime's id as given (whether some host offers it is the runtime directory's to say).</summary>
    private static string? Runtime(IFormCollection form)
    {
        if (!form.TryGetValue(RuntimeField, out var values) || string.IsNullOrWhiteSpace(values.ToString()))
        {
            return null;
        }
        var runtime = values.ToString().Trim();
        if (runtime.Length > 63 || !runtime.All(c => char.IsAsciiLetterLower(c) || char.IsAsciiDigit(c) || c is '.' or '_' or '-'))
        {
            throw UploadRejectedException.BadRequest("unknown-runtime", "Unknown runtime",
                $"'{RuntimeField}' is a runtime id such as python-3.11 (GET /runtimes lists them); got '{runtime[..Math.Min(runtime.Length, 63)]}'.");
        }
        return runtime;
    }

    /// <summary>stdin_mode: "batch" (the default: stdin is the 'stdin' field, then end of file) or "interactive".</summary>
    private static bool Interactive(IFormCollection form) =>
        form.TryGetValue(StdinModeField, out var values) ? values.ToString().Trim().ToLowerInvariant() switch
        {
            "" or "batch" => false,
            "interactive" => true,
            var other => throw UploadRejectedException.BadRequest("bad-stdin-mode", "Unknown stdin_mode",
                $"'{StdinModeField}' must be 'batch' (stdin is the '{StdinField}' field) or 'interactive' (stdin stays open for "
                + $"GET /result/{{session_id}}/attach); got '{other}'."),
        } : false;

    /// <summary>
    /// Each 'args' field is one argument, passed to the script as is (no shell). A single field holding a JSON
    /// array of strings is read as the whole list, for clients that cannot repeat a field.
    /// </summary>
    private static string[] Args(IFormCollection form, SessionServiceOptions options)
    {
        if (!form.TryGetValue(ArgsField, out var values))
        {
            return [];
        }
        string[] args = [.. values.Select(v => v ?? "")];
        if (args is [var only] && only.TrimStart().StartsWith('['))
        {
            string?[]? parsed;
            try
            {
                parsed = JsonSerializer.Deserialize<string?[]>(only);
            }
            catch (JsonException)
            {
                parsed = null;
            }
            // null is valid JSON in an array of strings, but not an argument.
            if (parsed is null || parsed.Any(a => a is null))
            {
                throw UploadRejectedException.BadRequest("bad-args", "Unreadable args",
                    "'args' looks like a JSON array but is not an array of strings (such as [\"-v\", \"input.txt\"]).");
            }
            args = [.. parsed.Select(a => a!)];
        }
        if (args.Length > options.MaxArgs)
        {
            throw UploadRejectedException.BadRequest("bad-args", "Too many arguments", $"{args.Length} arguments; at most {options.MaxArgs} are allowed.");
        }
        if (args.FirstOrDefault(a => a.Length > options.MaxArgLength || a.Contains('\0', StringComparison.Ordinal)) is { } bad)
        {
            throw UploadRejectedException.BadRequest("bad-args", "Unusable argument",
                $"An argument is longer than {options.MaxArgLength} characters or holds a NUL character ('{bad[..Math.Min(bad.Length, 40)]}...').");
        }
        return args;
    }

    private static int? Number(IFormCollection form, string field, int min, int max, string unit)
    {
        if (!form.TryGetValue(field, out var values) || string.IsNullOrWhiteSpace(values.ToString()))
        {
            return null;
        }
        if (!int.TryParse(values.ToString(), NumberStyles.None, CultureInfo.InvariantCulture, out var value) || value < min || value > max)
        {
            throw UploadRejectedException.BadRequest("bad-limit", $"Invalid {field}",
                $"'{field}' must be a whole number of {unit} from {min} to {max} (the server's maximum); got '{values}'.");
        }
        return value;
    }
}
