using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Executor.Session.Uploads;
using Executor.SessionCore.Access;
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
/// (422 <c>{field: [messages]}</c>, 400 and 503 <c>{"error"}</c>). A token is a session id: the same keys, quotas and
/// ownership as the native API. Limits are Judge0's (seconds, KB) within Judge0's bounds, mapped to the sandbox's.
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
        app.MapGet("/languages", Languages).WithName("Judge0Languages").WithTags(Tag).WithSummary("Judge0: the languages").AllowAnonymous();
        app.MapGet("/languages/{id:int}", Language).WithName("Judge0Language").WithTags(Tag).WithSummary("Judge0: one language").AllowAnonymous();
        app.MapGet("/statuses", () => TypedResults.Json(Judge0Format.Statuses.Select(s => new { id = s.Id, description = s.Description })))
            .WithName("Judge0Statuses").WithTags(Tag).WithSummary("Judge0: the statuses").AllowAnonymous();
        app.MapGet("/about", () => TypedResults.Json(new
        {
            version = "1.13.1",
            homepage = "https://judge0.com",
            source_code = "https://github.com/judge0/judge0",
            maintainer = "Executor (a Judge0 CE compatible surface)",
        })).WithName("Judge0About").WithTags(Tag).WithSummary("Judge0: about").AllowAnonymous();
        app.MapGet("/config_info", ConfigInfo).WithName("Judge0ConfigInfo").WithTags(Tag).WithSummary("Judge0: limits and settings").AllowAnonymous();
        return app;
    }

    private static readonly (int Id, string Name, string Runtime)[] LanguageList =
    [
        (Judge0Format.PythonId, "Python (3.11.2)", "python-3.11"),
        (Judge0Format.Python311Id, "Python (3.11.2)", "python-3.11"),
        (Judge0Format.PythonDataId, "Python (3.11.2) with numpy, pandas, scipy, matplotlib, pytest", "python-3.11-data"),
    ];

    public static IResult Languages() => TypedResults.Json(LanguageList.Select(l => new { id = l.Id, name = l.Name }));

    public static IResult Language(int id) => LanguageList.FirstOrDefault(l => l.Id == id) is { Name: not null } language
        ? TypedResults.Json(new
        {
            id = language.Id,
            name = language.Name,
            is_archived = false,
            source_file = "main.py",
            compile_cmd = (string?)null,
            run_cmd = "python3 main.py",
        })
        : TypedResults.Json(new { error = "Not Found" }, statusCode: StatusCodes.Status404NotFound);

    public static IResult ConfigInfo(IOptions<SessionServiceOptions> options, IOptions<Executor.Contracts.EgressOptions> egress) => TypedResults.Json(new
    {
        maintenance_mode = false,
        enable_wait_result = true,
        enable_compiler_options = false,
        allowed_languages_for_compile_options = Array.Empty<string>(),
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

    /// <summary>Judge0's own bounds (15 s of CPU, 20 s wall) within the service's maximum.</summary>
    private static double MaxSeconds(SessionServiceOptions options) => Math.Min(20, options.MaxTimeoutSeconds);

    public static async Task<IResult> CreateAsync(
        HttpContext context, SessionSubmitter submitter, IOptions<SessionServiceOptions> options,
        [FromQuery(Name = "base64_encoded")] bool? base64, [FromQuery] bool? wait, [FromQuery] string? fields, CancellationToken cancellationToken)
    {
        if (await ReadBodyAsync(context.Request, cancellationToken) is not { } body)
        {
            return Error(StatusCodes.Status400BadRequest, "the request body is not a JSON object");
        }
        var (upload, invalid) = await ReadSubmissionAsync(body, base64 == true, options.Value, cancellationToken);
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
        var session = await sessions.FindOwnedAsync(token, context, cancellationToken);
        if (session is null || Judge0Fields.Of(session.Options) is null)
        {
            return TypedResults.Json(new { error = "Not Found" }, statusCode: StatusCodes.Status404NotFound);
        }
        var wanted = Judge0Format.Fields(fields);
        var source = wanted.Contains("source_code") ? await SourceAsync(queue, session, cancellationToken) : null;
        return TypedResults.Json(Judge0Format.Submission(session, source, wanted, base64 == true));
    }

    public static async Task<IResult> CreateBatchAsync(
        HttpContext context, SessionSubmitter submitter, IOptions<SessionServiceOptions> options,
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
        // Each is judged alone, as Judge0 does: a bad one gets its errors in its place, the others their tokens.
        var answers = new JsonArray();
        foreach (var item in items.EnumerateArray())
        {
            var (upload, invalid) = await ReadSubmissionAsync(item, base64 == true, options.Value, cancellationToken, errorsOnly: true);
            if (upload is null)
            {
                answers.Add(invalid is IValueHttpResult { Value: JsonObject errors } ? errors.DeepClone() : new JsonObject { ["error"] = "invalid" });
                continue;
            }
            var submission = await submitter.SubmitAsync(context, upload, TimeSpan.Zero, cancellationToken);
            answers.Add(submission.Problem is { } refused
                ? new JsonObject { ["error"] = refused.Detail ?? refused.Title }
                : new JsonObject { ["token"] = submission.SessionId });
        }
        return TypedResults.Json(answers, statusCode: StatusCodes.Status201Created);
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
        var submissions = new JsonArray();
        foreach (var token in list)
        {
            var session = await sessions.FindOwnedAsync(token, context, cancellationToken);
            submissions.Add(session is null || Judge0Fields.Of(session.Options) is null
                ? null
                : Judge0Format.Submission(session, wanted.Contains("source_code") ? await SourceAsync(queue, session, cancellationToken) : null, wanted, base64 == true));
        }
        return TypedResults.Json(new JsonObject { ["submissions"] = submissions });
    }

    /// <summary>A Judge0 submission as an upload: its source as main.py, its stdin, arguments and limits; or Judge0's error answer.</summary>
    private static async Task<(Submission? Submission, IResult? Invalid)> ReadSubmissionAsync(
        JsonElement body, bool base64, SessionServiceOptions options, CancellationToken cancellationToken, bool errorsOnly = false)
    {
        if (body.ValueKind != JsonValueKind.Object)
        {
            return (null, Error(StatusCodes.Status400BadRequest, "a submission is a JSON object"));
        }
        var errors = new JsonObject();
        var languageId = body.TryGetProperty("language_id", out var l) && l.ValueKind == JsonValueKind.Number && l.TryGetInt32(out var id) ? id : (int?)null;
        if (languageId is null)
        {
            errors["language_id"] = new JsonArray("can't be blank");
        }
        else if (Judge0Format.RuntimeOf(languageId.Value) is null)
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
        // The wall-clock limit is the sandbox's; a CPU limit alone gives the wall clock twice as long (half a CPU each).
        var timeout = wall is { } w ? (int)Math.Ceiling(w) : cpu is { } c ? (int)Math.Ceiling(Math.Min(maxSeconds, c * 2)) : (int?)null;
        var args = body.TryGetProperty("command_line_arguments", out var a) && a.ValueKind == JsonValueKind.String
            ? a.GetString()!.Split(' ', StringSplitOptions.RemoveEmptyEntries) : [];
        var callback = body.TryGetProperty("callback_url", out var cb) && cb.ValueKind == JsonValueKind.String ? cb.GetString() : null;
        var redirect = body.TryGetProperty("redirect_stderr_to_stdout", out var r) && r.ValueKind == JsonValueKind.True;
        try
        {
            // Judge0's additional files are a zip beside the source: unpacked by the upload's own rules and limits.
            var directory = await JsonUploadReader.DirectoryAsync(
            [
                (WorkingDirectory.DefaultEntrypoint, Encoding.UTF8.GetBytes(source!)),
                .. additional is null ? [] : new[] { (AdditionalFilesName, JsonUploadReader.Decode(AdditionalFilesName, additional, "base64")) },
            ], options, cancellationToken);
            var run = new RunOptions(args, stdin, timeout, memoryKb is { } k ? Math.Max(SubmissionRules.MinMemoryMb, (int)Math.Ceiling(k / 1024.0)) : null,
                CallbackUrl: string.IsNullOrWhiteSpace(callback) ? null : callback.Trim(), Runtime: Judge0Format.RuntimeOf(languageId!.Value),
                // The network, when asked for, is what the operator allows the key (Egress:AllowedHosts or its own list).
                Egress: body.TryGetProperty("enable_network", out var network) && network.ValueKind == JsonValueKind.True ? EgressGate.RequestAll() : null);
            return (SubmissionRules.Complete(directory, WorkingDirectory.DefaultEntrypoint, new Judge0Fields(languageId.Value, expected, redirect).On(run), options), null);
        }
        catch (UploadRejectedException e)
        {
            return (null, errorsOnly
                ? TypedResults.Json(new JsonObject { ["error"] = e.Problem.Detail }, statusCode: StatusCodes.Status422UnprocessableEntity)
                : Error(e.Problem.Status ?? 400, e.Problem.Detail ?? "invalid submission"));
        }
    }

    /// <summary>
    /// What Judge0 can be asked for and Executor does not do is refused, as config_info says, never silently ignored:
    /// compiler options (Python compiles nothing), more than one run.
    /// </summary>
    private static void Unsupported(JsonElement body, JsonObject errors)
    {
        if (body.TryGetProperty("compiler_options", out var compiler) && compiler.ValueKind == JsonValueKind.String && compiler.GetString()!.Trim().Length > 0)
        {
            errors["compiler_options"] = new JsonArray("setting compiler options is not allowed");
        }
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

    private static async Task<SessionFile?> SourceAsync(IWorkQueue queue, SessionRecord session, CancellationToken cancellationToken)
    {
        var files = await queue.LoadFilesAsync([session.Id], cancellationToken);
        return files.TryGetValue(session.Id, out var list) && list.FirstOrDefault(f => f.Path == WorkingDirectory.DefaultEntrypoint) is { } main
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
