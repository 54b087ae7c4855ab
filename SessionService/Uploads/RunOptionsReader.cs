using System.Globalization;
using System.Text.Json;
using Executor.SessionCore.Sessions;
using Executor.SessionCore.Submissions;
using Microsoft.Extensions.Primitives;

namespace Executor.Session.Uploads;

/// <summary>
/// Reads the native API's optional fields (the form's, or the same from JSON) into the core's typed options: stdin,
/// args, timeout_seconds, memory_mb, stdin_mode, callback_url and runtime. It only reads them; whether they are
/// acceptable is <see cref="SubmissionRules"/>' to say, for every surface alike.
/// </summary>
public static class RunOptionsReader
{
    public const string StdinField = SubmissionRules.StdinField;
    public const string ArgsField = SubmissionRules.ArgsField;
    public const string TimeoutField = SubmissionRules.TimeoutField;
    public const string MemoryField = SubmissionRules.MemoryField;
    public const string StdinModeField = "stdin_mode";
    public const string CallbackField = "callback_url";
    public const string RuntimeField = SubmissionRules.RuntimeField;
    public const string EgressField = Executor.SessionCore.Access.EgressGate.Field;

    public static RunOptions Read(IReadOnlyDictionary<string, StringValues> fields, SessionServiceOptions options) => new(
        Args(fields),
        fields.TryGetValue(StdinField, out var stdin) ? stdin.ToString() : null,
        Number(fields, TimeoutField) is { } timeout ? Whole(timeout) ?? throw SubmissionRules.BadTimeout(timeout, options) : null,
        Number(fields, MemoryField) is { } memory ? Whole(memory) ?? throw SubmissionRules.BadMemory(memory, options) : null,
        Interactive(fields),
        fields.TryGetValue(CallbackField, out var callback) && !string.IsNullOrWhiteSpace(callback.ToString()) ? callback.ToString().Trim() : null,
        fields.TryGetValue(RuntimeField, out var runtime) && !string.IsNullOrWhiteSpace(runtime.ToString()) ? runtime.ToString().Trim() : null,
        Egress: Executor.SessionCore.Access.EgressGate.Request(List(fields, EgressField, "bad-egress", "[\"pypi.example.org\", \"api.example.com:8443\"]")
            .Where(d => !string.IsNullOrWhiteSpace(d))));

    /// <summary>stdin_mode: "batch" (the default: stdin is the 'stdin' field, then end of file) or "interactive".</summary>
    private static bool Interactive(IReadOnlyDictionary<string, StringValues> fields) =>
        fields.TryGetValue(StdinModeField, out var values) ? values.ToString().Trim().ToLowerInvariant() switch
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
    private static string[] Args(IReadOnlyDictionary<string, StringValues> fields) => List(fields, ArgsField, "bad-args", "[\"-v\", \"input.txt\"]");

    /// <summary>
    /// A field that may repeat, each value one item; a single value holding a JSON array of strings is the whole list.
    /// 'egress' reads the same way as 'args'.
    /// </summary>
    private static string[] List(IReadOnlyDictionary<string, StringValues> fields, string field, string problem, string example)
    {
        if (!fields.TryGetValue(field, out var values))
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
                throw UploadRejectedException.BadRequest(problem, $"Unreadable {field}",
                    $"'{field}' looks like a JSON array but is not an array of strings (such as {example}).");
            }
            args = [.. parsed.Select(a => a!)];
        }
        return args;
    }

    /// <summary>A number field as given, or null when it is absent or blank.</summary>
    private static string? Number(IReadOnlyDictionary<string, StringValues> fields, string field) =>
        fields.TryGetValue(field, out var values) && !string.IsNullOrWhiteSpace(values.ToString()) ? values.ToString() : null;

    private static int? Whole(string value) =>
        int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out var number) ? number : null;
}
