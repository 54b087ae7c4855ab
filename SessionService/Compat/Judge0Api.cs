using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Executor.Contracts;
using Executor.Session.Uploads;
using Executor.SessionCore.Access;
using Executor.SessionCore.Runtimes;
using Executor.SessionCore.Sessions;
using Executor.SessionCore.Storage;
using Executor.SessionCore.Submissions;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Extensions.Options;

namespace Executor.Session.Compat;

/// <summary>
/// Judge0 CE 1.13's API, as its clients call it: submissions (one or a batch; <c>?base64_encoded</c>, <c>?wait</c>,
/// <c>?fields</c>), languages, statuses, about and config_info, with Judge0's field names, status ids and error shapes
/// (422 <c>{field: [messages]}</c>, 400 and 503 <c>{"error"}</c>). A token is a session id (or, in a batch that shared
/// one preparation, a session id and a case, <see cref="Judge0Tokens"/>): the same keys, quotas and ownership as the
/// native API. Limits are Judge0's (seconds, KB) within Judge0's bounds, mapped to the sandbox's. Languages are those of
/// the runtimes the hosts offer (<see cref="Judge0Language"/>).
/// </summary>
public static class Judge0Api
{
    private const string Tag = "Judge0 CE";
    private const int MaxBatch = 20;

    /// <summary>The name additional_files has as an upload: a zip, which the working directory unpacks.</summary>
    private const string AdditionalFilesName = "additional_files.zip";

    public static IEndpointRouteBuilder MapJudge0Api(this IEndpointRouteBuilder app)
    {
        app.MapPost("/submissions", CreateAsync).WithName("Judge0CreateSubmission").WithTags(Tag)
            .WithSummary("Judge0: creates a submission (?wait=true answers with its result)")
            .DisableAntiforgery();
        app.MapGet("/submissions/{token}", GetAsync).WithName("Judge0GetSubmission").WithTags(Tag)
            .WithSummary("Judge0: reads a submission");
        app.MapPost("/submissions/batch", CreateBatchAsync).WithName("Judge0CreateBatch").WithTags(Tag)
            .WithSummary("Judge0: creates several submissions")
            .DisableAntiforgery();
        app.MapGet("/submissions/batch", GetBatchAsync).WithName("Judge0GetBatch").WithTags(Tag)
            .WithSummary("Judge0: reads several submissions (?tokens=a,b,c)");
        app.MapGet("/languages", LanguagesAsync).WithName("Judge0Languages").WithTags(Tag).WithSummary("Judge0: the languages").AllowAnonymous();
        app.MapGet("/languages/{id:int}", LanguageAsync).WithName("Judge0Language").WithTags(Tag).WithSummary("Judge0: one language").AllowAnonymous();
        app.MapGet("/statuses", () => TypedResults.Json(Judge0Format.Statuses.Select(s => new { id = s.Id, description = s.Description })))
            .WithName("Judge0Statuses").WithTags(Tag).WithSummary("Judge0: the statuses").AllowAnonymous();
        app.MapGet("/about", () => TypedResults.Json(new
        {
            version = "1.13.1",
            homepage = "https://judge0.com",
            source_code = "https://github.com/judge0/judge0",
            maintainer = "Executor (a Judge0 CE compatible surface)",
        })).WithName("Judge0About").WithTags(Tag).WithSummary("Judge0: about").AllowAnonymous();
        app.MapGet("/config_info", ConfigInfoAsync).WithName("Judge0ConfigInfo").WithTags(Tag).WithSummary("Judge0: limits and settings").AllowAnonymous();
        return app;
    }

    /// <summary>The languages some host offers a runtime of (Judge0's Python ids always), by name as Judge0 lists them.</summary>
    private static async Task<List<(Judge0Language Language, string Runtime, string Name)>> OfferedAsync(RuntimeDirectory runtimes, CancellationToken cancellationToken)
    {
        var listed = (await runtimes.ListAsync(cancellationToken)).Where(r => r.Available).ToList();
        return
        [
            .. Judge0Language.All.Select(l => (Language: l, Offered: l.Offered(listed)))
                .Where(l => l.Offered is not null)
                .Select(l => (l.Language, l.Offered!.Value.Runtime, l.Offered.Value.Name))
                .OrderBy(l => l.Name, StringComparer.Ordinal).ThenBy(l => l.Language.Id),
        ];
    }

    public static async Task<IResult> LanguagesAsync(RuntimeDirectory runtimes, CancellationToken cancellationToken) =>
        TypedResults.Json((await OfferedAsync(runtimes, cancellationToken)).Select(l => new { id = l.Language.Id, name = l.Name }));

    public static async Task<IResult> LanguageAsync(int id, RuntimeDirectory runtimes, CancellationToken cancellationToken) =>
        (await OfferedAsync(runtimes, cancellationToken)).FirstOrDefault(l => l.Language.Id == id) is { Language: not null } offered
            ? TypedResults.Json(new
            {
                id = offered.Language.Id,
                name = offered.Name,
                is_archived = false,
                source_file = offered.Language.SourceFile,
                compile_cmd = offered.Language.CompileCmd,
                run_cmd = offered.Language.RunCmd,
            })
            : TypedResults.Json(new { error = "Not Found" }, statusCode: StatusCodes.Status404NotFound);

    public static async Task<IResult> ConfigInfoAsync(
        IOptions<SessionServiceOptions> options, IOptions<EgressOptions> egress, RuntimeDirectory runtimes, CancellationToken cancellationToken)
    {
        // Only the languages that compile take compiler options (an empty list would mean every language, to Judge0's clients).
        var compiled = (await OfferedAsync(runtimes, cancellationToken)).Where(l => l.Language.CompileCmd is not null).Select(l => l.Name).ToList();
        return TypedResults.Json(new
        {
            maintenance_mode = false,
            enable_wait_result = true,
            enable_compiler_options = compiled.Count > 0,
            allowed_languages_for_compile_options = compiled,
            enable_command_line_arguments = true,
            enable_submission_delete = false,
            enable_callbacks = true,
            callbacks_max_tries = 3,
            callbacks_timeout = 5.0,
            enable_additional_files = true,
            max_queue_size = options.Value.QueueCapacity,
            cpu_time_limit = 5.0,
            max_cpu_time_limit = MaxSeconds(options.Value),
            wall_time_limit = 10.0,
            max_wall_time_limit = MaxSeconds(options.Value),
            memory_limit = 128000,
            max_memory_limit = Math.Min(512000, options.Value.MaxMemoryMb * 1024),
            stack_limit = 64000,
            max_stack_limit = 128000,
            max_processes_and_or_threads = 64,
            max_file_size = 1024,
            number_of_runs = 1,
            max_number_of_runs = 1,
            redirect_stderr_to_stdout = false,
            max_extract_size = options.Value.MaxTotalFileBytes / 1024,
            enable_batched_submissions = true,
            max_submission_batch_size = MaxBatch,
            enable_network = false,
            // enable_network: true gives a submission what the operator allows its key (Egress:AllowedHosts, or the key's list).
            allow_enable_network = egress.Value.AllowedHosts.Count > 0,
        });
    }

    /// <summary>Judge0's own bounds (15 s of CPU, 20 s wall) within the service's maximum.</summary>
    private static double MaxSeconds(SessionServiceOptions options) => Math.Min(20, options.MaxTimeoutSeconds);

    public static async Task<IResult> CreateAsync(
        HttpContext context, SessionSubmitter submitter, RuntimeDirectory runtimes, IOptions<SessionServiceOptions> options,
        [FromQuery(Name = "base64_encoded")] bool? base64, [FromQuery] bool? wait, [FromQuery] string? fields, CancellationToken cancellationToken)
    {
        if (await ReadBodyAsync(context.Request, cancellationToken) is not { } body)
        {
            return Error(StatusCodes.Status400BadRequest, "the request body is not a JSON object");
        }
        var offered = await OfferedAsync(runtimes, cancellationToken);
        var (upload, invalid) = await ReadSubmissionAsync(body, base64 == true, offered, options.Value, cancellationToken);
        if (invalid is not null)
        {
            return invalid;
        }
        var waitFor = wait == true ? submitter.RunWait(upload!) : TimeSpan.Zero;
        var submission = await submitter.SubmitAsync(context, upload!, waitFor, cancellationToken);
        if (submission.Problem is { } refused)
        {
            return Refused(refused);
        }
        if (wait != true)
        {
            return TypedResults.Json(new JsonObject { ["token"] = submission.SessionId }, statusCode: StatusCodes.Status201Created);
        }
        var session = submission.Session ?? throw new InvalidOperationException("a waited-for submission has a session");
        return TypedResults.Json(Judge0Format.Submission(session, Source(upload!), Judge0Format.Fields(fields), base64 == true),
            statusCode: StatusCodes.Status201Created);
    }

    public static async Task<IResult> GetAsync(
        string token, HttpContext context, SessionCommands sessions, IWorkQueue queue,
        [FromQuery(Name = "base64_encoded")] bool? base64, [FromQuery] string? fields, CancellationToken cancellationToken)
    {
        var wanted = Judge0Format.Fields(fields);
        return await ReadAsync(token, context, sessions, queue, wanted, base64 == true, [], cancellationToken) is { } submission
            ? TypedResults.Json(submission)
            : TypedResults.Json(new { error = "Not Found" }, statusCode: StatusCodes.Status404NotFound);
    }

    /// <summary>
    /// The submission a token names, as Judge0 shows it; null when the caller has no such submission. A token of a shared
    /// batch names one case of its session (<see cref="Judge0Tokens"/>); <paramref name="read"/> keeps the sessions a
    /// batch's tokens share, so that each is read once.
    /// </summary>
    private static async Task<JsonObject?> ReadAsync(
        string token, HttpContext context, SessionCommands sessions, IWorkQueue queue, IReadOnlyCollection<string> wanted, bool base64,
        Dictionary<string, SessionRecord?> read, CancellationToken cancellationToken)
    {
        var (sessionId, index) = Judge0Tokens.Parse(token);
        if (!read.TryGetValue(sessionId, out var session))
        {
            read[sessionId] = session = await sessions.FindOwnedAsync(sessionId, context, cancellationToken);
        }
        if (session is null || Judge0Fields.Of(session.Options) is not { } judge0
            || (index is { } i ? session.Options.Grading is not { } grading || i >= grading.Cases.Count : session.Options.Grading is not null))
        {
            return null;
        }
        var source = wanted.Contains("source_code") ? await SourceAsync(queue, session, judge0, cancellationToken) : null;
        return Judge0Format.Submission(session, source, wanted, base64, index);
    }

    // Judge0's batch: each submission judged alone, as Judge0 does (a bad one gets its errors in its place, the others
    // their tokens). Submissions that differ only in stdin and expected_output (the same source, language, compiler
    // options, arguments, limits and files; no callback, no redirect) share one preparation: one session whose test
    // cases they are, compiled once, each answering under its own token. A group the grading rules refuse (too many
    // cases, too much time or input) runs as separate submissions, as before. (Not an XML summary: that would replace
    // the route's summary in the OpenAPI document.)
    public static async Task<IResult> CreateBatchAsync(
        HttpContext context, SessionSubmitter submitter, RuntimeDirectory runtimes, IOptions<SessionServiceOptions> options,
        [FromQuery(Name = "base64_encoded")] bool? base64, CancellationToken cancellationToken)
    {
        if (await ReadBodyAsync(context.Request, cancellationToken) is not { } body
            || !body.TryGetProperty("submissions", out var items) || items.ValueKind != JsonValueKind.Array)
        {
            return Unprocessable("submissions", "can't be blank");
        }
        if (items.GetArrayLength() is 0 or > MaxBatch)
        {
            return Unprocessable("submissions", $"size of the array must be between 1 and {MaxBatch}");
        }
        var offered = await OfferedAsync(runtimes, cancellationToken);
        var answers = new JsonNode?[items.GetArrayLength()];
        var uploads = new List<(int Position, Submission Upload, string? Group)>();
        foreach (var (item, position) in items.EnumerateArray().Select((item, i) => (item, i)))
        {
            var (upload, invalid) = await ReadSubmissionAsync(item, base64 == true, offered, options.Value, cancellationToken, errorsOnly: true);
            if (upload is null)
            {
                answers[position] = invalid is IValueHttpResult { Value: JsonObject errors } ? errors.DeepClone() : new JsonObject { ["error"] = "invalid" };
                continue;
            }
            uploads.Add((position, upload, SharingKey(item, upload)));
        }
        foreach (var group in uploads.GroupBy(u => u.Group ?? $"alone {u.Position}", StringComparer.Ordinal))
        {
            var members = group.ToList();
            if (members.Count > 1 && Shared(members.Select(m => m.Upload).ToList(), options.Value) is { } shared)
            {
                var submission = await submitter.SubmitAsync(context, shared, TimeSpan.Zero, cancellationToken);
                for (var i = 0; i < members.Count; i++)
                {
                    answers[members[i].Position] = Answer(submission, Judge0Tokens.Of(submission.SessionId ?? "", i));
                }
                continue;
            }
            foreach (var (position, upload, _) in members)
            {
                var submission = await submitter.SubmitAsync(context, upload, TimeSpan.Zero, cancellationToken);
                answers[position] = Answer(submission, submission.SessionId);
            }
        }
        return TypedResults.Json(new JsonArray(answers), statusCode: StatusCodes.Status201Created);
    }

    private static JsonObject Answer(SubmitOutcome submission, string? token) => submission.Problem is { } refused
        ? new JsonObject { ["error"] = refused.Detail ?? refused.Title }
        : new JsonObject { ["token"] = token };

    /// <summary>
    /// What submissions must have in common to share a preparation: every field but stdin and expected_output, as sent.
    /// Null for one that must run alone: a callback is sent per session, and a redirected stdout is the run's combined
    /// output, which a case does not keep.
    /// </summary>
    private static string? SharingKey(JsonElement item, Submission upload)
    {
        if (upload.Options.CallbackUrl is not null || Judge0Fields.Of(upload.Options)?.RedirectStderrToStdout == true)
        {
            return null;
        }
        return string.Join('\n', item.EnumerateObject()
            .Where(p => p.Name is not ("stdin" or "expected_output") && p.Value.ValueKind != JsonValueKind.Null)
            .OrderBy(p => p.Name, StringComparer.Ordinal)
            .Select(p => p.Name + "=" + p.Value.GetRawText()));
    }

    /// <summary>
    /// One submission whose test cases are <paramref name="members"/>' stdin and expected output, each judged as Judge0
    /// judges one (trailing whitespace does not count; no expected output: the exit alone); null when the rules refuse it.
    /// </summary>
    private static Submission? Shared(List<Submission> members, SessionServiceOptions limits)
    {
        var first = members[0];
        var judge0 = Judge0Fields.Of(first.Options)!;
        var cases = members.Select(m => new TestCase(null, m.Options.Stdin ?? "", Judge0Fields.Of(m.Options)?.ExpectedOutput)).ToList();
        var options = (judge0 with { ExpectedOutput = null }).On(first.Options with { Stdin = null, Grading = new GradingSpec(cases) });
        try
        {
            SubmissionRules.Check(options, limits);
            return first with { Options = options };
        }
        catch (UploadRejectedException)
        {
            return null;
        }
    }

    public static async Task<IResult> GetBatchAsync(
        HttpContext context, SessionCommands sessions, IWorkQueue queue, [FromQuery] string? tokens,
        [FromQuery(Name = "base64_encoded")] bool? base64, [FromQuery] string? fields, CancellationToken cancellationToken)
    {
        var list = (tokens ?? "").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        if (list.Length is 0 or > MaxBatch)
        {
            return Unprocessable("tokens", $"give 1 to {MaxBatch} tokens, comma-separated");
        }
        var wanted = Judge0Format.Fields(fields);
        var read = new Dictionary<string, SessionRecord?>(StringComparer.Ordinal);
        var submissions = new JsonArray();
        foreach (var token in list)
        {
            submissions.Add(await ReadAsync(token, context, sessions, queue, wanted, base64 == true, read, cancellationToken));
        }
        return TypedResults.Json(new JsonObject { ["submissions"] = submissions });
    }

    /// <summary>
    /// A Judge0 submission as an upload: its source in its language's file (main.py, main.c, Main.java...), its stdin,
    /// arguments, compiler options and limits; or Judge0's error answer. A language is one some host offers.
    /// </summary>
    private static async Task<(Submission? Submission, IResult? Invalid)> ReadSubmissionAsync(
        JsonElement body, bool base64, IReadOnlyList<(Judge0Language Language, string Runtime, string Name)> offered, SessionServiceOptions options,
        CancellationToken cancellationToken, bool errorsOnly = false)
    {
        if (body.ValueKind != JsonValueKind.Object)
        {
            return (null, Error(StatusCodes.Status400BadRequest, "a submission is a JSON object"));
        }
        var errors = new JsonObject();
        var languageId = body.TryGetProperty("language_id", out var l) && l.ValueKind == JsonValueKind.Number && l.TryGetInt32(out var id) ? id : (int?)null;
        var language = offered.FirstOrDefault(o => o.Language.Id == languageId);
        if (languageId is null)
        {
            errors["language_id"] = new JsonArray("can't be blank");
        }
        else if (language.Language is null)
        {
            errors["language_id"] = new JsonArray($"language with id {languageId} doesn't exist");
        }
        string? Text(string name)
        {
            if (!body.TryGetProperty(name, out var value) || value.ValueKind != JsonValueKind.String)
            {
                return null;
            }
            if (!base64)
            {
                return value.GetString();
            }
            try
            {
                return new UTF8Encoding(false, throwOnInvalidBytes: true).GetString(Convert.FromBase64String(value.GetString()!));
            }
            catch (Exception e) when (e is FormatException or DecoderFallbackException)
            {
                errors[name] = new JsonArray("is not valid base64-encoded UTF-8");
                return null;
            }
        }
        var source = Text("source_code");
        if (string.IsNullOrEmpty(source) && errors["source_code"] is null)
        {
            errors["source_code"] = new JsonArray("can't be blank");
        }
        var stdin = Text("stdin");
        var expected = Text("expected_output");
        var maxSeconds = MaxSeconds(options);
        var cpu = Seconds(body, "cpu_time_limit", 15, errors);
        var wall = Seconds(body, "wall_time_limit", maxSeconds, errors);
        int? memoryKb = null;
        if (body.TryGetProperty("memory_limit", out var m) && m.ValueKind == JsonValueKind.Number)
        {
            var max = Math.Min(512000, options.MaxMemoryMb * 1024);
            if (!m.TryGetDouble(out var kb) || kb < 2048 || kb > max)
            {
                errors["memory_limit"] = new JsonArray($"must be between 2048 and {max}");
            }
            else
            {
                memoryKb = (int)kb;
            }
        }
        var compilerOptions = CompilerOptions(body, language.Language, errors);
        var args = Words(body, "command_line_arguments", errors);
        Unsupported(body, errors);
        string? additional = null;
        if (body.TryGetProperty("additional_files", out var zip) && zip.ValueKind != JsonValueKind.Null)
        {
            additional = zip.ValueKind == JsonValueKind.String ? zip.GetString() : null;
            if (additional is null)
            {
                errors["additional_files"] = new JsonArray("must be a base64-encoded zip archive");
            }
        }
        if (errors.Count > 0)
        {
            return (null, TypedResults.Json(errors, statusCode: StatusCodes.Status422UnprocessableEntity));
        }
        var sourceFile = language.Language!.SourceFile;
        // The wall-clock limit is the sandbox's; a CPU limit alone gives the wall clock twice as long (half a CPU each).
        var timeout = wall is { } w ? (int)Math.Ceiling(w) : cpu is { } c ? (int)Math.Ceiling(Math.Min(maxSeconds, c * 2)) : (int?)null;
        var callback = body.TryGetProperty("callback_url", out var cb) && cb.ValueKind == JsonValueKind.String ? cb.GetString() : null;
        var redirect = body.TryGetProperty("redirect_stderr_to_stdout", out var r) && r.ValueKind == JsonValueKind.True;
        try
        {
            // Judge0's additional files are a zip beside the source: unpacked by the upload's own rules and limits.
            var directory = await JsonUploadReader.DirectoryAsync(
            [
                (sourceFile, Encoding.UTF8.GetBytes(source!)),
                .. additional is null ? [] : new[] { (AdditionalFilesName, JsonUploadReader.Decode(AdditionalFilesName, additional, "base64")) },
            ], options, cancellationToken);
            var run = new RunOptions(args ?? [], stdin, timeout, memoryKb is { } k ? Math.Max(SubmissionRules.MinMemoryMb, (int)Math.Ceiling(k / 1024.0)) : null,
                CallbackUrl: string.IsNullOrWhiteSpace(callback) ? null : callback.Trim(), Runtime: language.Runtime,
                // The network, when asked for, is what the operator allows the key (Egress:AllowedHosts or its own list).
                Egress: body.TryGetProperty("enable_network", out var network) && network.ValueKind == JsonValueKind.True ? EgressGate.RequestAll() : null,
                Build: compilerOptions is { Count: > 0 } ? new BuildOptions(compilerOptions) : null);
            return (SubmissionRules.Complete(directory, sourceFile, new Judge0Fields(languageId!.Value, expected, redirect).On(run), options), null);
        }
        catch (UploadRejectedException e)
        {
            return (null, errorsOnly
                ? TypedResults.Json(new JsonObject { ["error"] = e.Problem.Detail }, statusCode: StatusCodes.Status422UnprocessableEntity)
                : Error(e.Problem.Status ?? 400, e.Problem.Detail ?? "invalid submission"));
        }
    }

    /// <summary>
    /// compiler_options, split as the shell of Judge0's compile command splits them; refused for a language that compiles
    /// nothing (as config_info's allowed_languages_for_compile_options says), never silently ignored.
    /// </summary>
    private static IReadOnlyList<string>? CompilerOptions(JsonElement body, Judge0Language? language, JsonObject errors)
    {
        var options = Words(body, "compiler_options", errors);
        if (options is { Count: > 0 } && language is { CompileCmd: null })
        {
            errors["compiler_options"] = new JsonArray("setting compiler options is only allowed for compiled languages");
        }
        return options;
    }

    /// <summary>A string field read as bash reads words (Judge0 hands it to a shell); null when absent or malformed.</summary>
    private static IReadOnlyList<string>? Words(JsonElement body, string name, JsonObject errors)
    {
        if (!body.TryGetProperty(name, out var value) || value.ValueKind != JsonValueKind.String)
        {
            return null;
        }
        var words = ShellWords.Split(value.GetString()!);
        if (words is null)
        {
            errors[name] = new JsonArray("has a quote that is not closed");
        }
        return words;
    }

    /// <summary>What Judge0 can be asked for and Executor does not do is refused, as config_info says, never silently ignored: more than one run.</summary>
    private static void Unsupported(JsonElement body, JsonObject errors)
    {
        if (body.TryGetProperty("number_of_runs", out var runs) && runs.ValueKind == JsonValueKind.Number
            && (!runs.TryGetInt32(out var count) || count != 1))
        {
            errors["number_of_runs"] = new JsonArray("must be greater than 0 and less than or equal to 1");
        }
    }

    private static double? Seconds(JsonElement body, string name, double max, JsonObject errors)
    {
        if (!body.TryGetProperty(name, out var value) || value.ValueKind != JsonValueKind.Number)
        {
            return null;
        }
        if (!value.TryGetDouble(out var seconds) || seconds <= 0 || seconds > max)
        {
            errors[name] = new JsonArray(string.Create(CultureInfo.InvariantCulture, $"must be greater than 0 and less than or equal to {max}"));
            return null;
        }
        return seconds;
    }

    private static SessionFile Source(Submission upload) => upload.Files.First(f => f.Path == upload.Entrypoint);

    private static async Task<SessionFile?> SourceAsync(IWorkQueue queue, SessionRecord session, Judge0Fields judge0, CancellationToken cancellationToken)
    {
        var sourceFile = Judge0Language.Of(judge0.LanguageId)?.SourceFile ?? WorkingDirectory.DefaultEntrypoint;
        var files = await queue.LoadFilesAsync([session.Id], cancellationToken);
        return files.TryGetValue(session.Id, out var list) && list.FirstOrDefault(f => f.Path == sourceFile) is { } main
            ? new SessionFile(main.Path, main.Content)
            : null;
    }

    private static async Task<JsonElement?> ReadBodyAsync(HttpRequest request, CancellationToken cancellationToken)
    {
        try
        {
            using var document = await JsonDocument.ParseAsync(request.Body, cancellationToken: cancellationToken);
            return document.RootElement.ValueKind == JsonValueKind.Object ? document.RootElement.Clone() : null;
        }
        catch (JsonException)
        {
            return null;
        }
    }

    /// <summary>A refusal of the submission path in Judge0's shapes: a full queue is its 503 "queue is full".</summary>
    private static JsonHttpResult<JsonObject> Refused(ProblemDetails problem) => problem.Type?.EndsWith("queue-full", StringComparison.Ordinal) == true
        ? Error(StatusCodes.Status503ServiceUnavailable, "queue is full")
        : Error(problem.Status ?? StatusCodes.Status400BadRequest, problem.Detail ?? problem.Title ?? "refused");

    private static JsonHttpResult<JsonObject> Error(int status, string message) => TypedResults.Json(new JsonObject { ["error"] = message }, statusCode: status);

    private static JsonHttpResult<JsonObject> Unprocessable(string field, string message) =>
        TypedResults.Json(new JsonObject { [field] = new JsonArray(message) }, statusCode: StatusCodes.Status422UnprocessableEntity);
}
