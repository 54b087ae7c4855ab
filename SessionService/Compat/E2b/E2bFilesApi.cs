using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Executor.Contracts;
using Executor.SessionCore.Access;
using Executor.SessionCore.Sandboxes;
using Executor.SessionCore.Storage;
using Microsoft.AspNetCore.Mvc;

namespace Executor.Session.Compat.E2b;

/// <summary>
/// E2B's file calls (envd, port 49983): <c>GET/POST /files</c> over HTTP, and the directory calls of
/// <c>filesystem.Filesystem</c> as Connect unary JSON calls (ListDir, Stat, MakeDir, Remove, Move). Paths are E2B's
/// (/home/user is the sandbox's /sandbox); anything outside answers E2B's permission error. Reads, writes, listings and
/// deletes are the sandbox's file operations; making, moving and removing a whole directory are calls in the surface's
/// own context, as the sandbox user.
/// </summary>
public static class E2bFilesApi
{
    private const string Tag = "E2B data plane";

    public static IEndpointRouteBuilder MapE2bFilesApi(this IEndpointRouteBuilder app)
    {
        var api = app.MapGroup(E2bDataPlaneRouting.Prefix.Value!).WithTags(Tag).AllowAnonymous() // the sandbox's own token, checked here
            .ExcludeFromDescription();
        api.MapGet("/files", ReadAsync).WithName("E2bReadFile").WithSummary("E2B: a file's bytes (?path=)");
        api.MapPost("/files", WriteAsync).WithName("E2bWriteFiles").WithSummary("E2B: writes files (multipart 'file' parts, or the raw body with ?path=)")
            .WithMetadata(new RequestSizeLimitAttribute(LimitDefaults.SandboxFileBytes + 64 * 1024))
            .DisableAntiforgery();
        api.MapPost("/filesystem.Filesystem/{method}", FilesystemAsync).WithName("E2bFilesystem")
            .WithSummary("E2B: the filesystem service's unary calls (Connect, JSON)");
        return app;
    }

    public static async Task<IResult> ReadAsync(
        [FromQuery] string? path, HttpContext context, SandboxOperations sandboxes, IResultFiles files, CancellationToken cancellationToken)
    {
        var (sandbox, owner, status, message) = await E2bSandbox.FindAsync(context, sandboxes, cancellationToken);
        if (sandbox is null)
        {
            return E2bSandbox.Error(status, message!);
        }
        if (E2bSandbox.UserRefusal(context.Request) is { } user)
        {
            return E2bSandbox.Error(StatusCodes.Status403Forbidden, user);
        }
        if (E2bFormat.ToSandboxPath(path) is not { Length: > 0 } relative)
        {
            return E2bSandbox.Error(StatusCodes.Status403Forbidden, Outside(path));
        }
        var (command, problem) = await sandboxes.FileAsync(sandbox, SandboxCommandKinds.GetFile, relative, null, owner!, cancellationToken);
        if (Failure(command, problem, path!) is { } failed)
        {
            return E2bSandbox.Error(failed.Status, failed.Message);
        }
        var file = command!.Result!.Files is { Count: > 0 } got ? got[0] : null;
        var content = file is null ? null : await files.ReadResultFileAsync(command.Id, file.Path, cancellationToken);
        return content is null
            ? E2bSandbox.Error(StatusCodes.Status404NotFound, $"path '{path}' does not exist")
            : TypedResults.Bytes(content, "application/octet-stream");
    }

    public static async Task<IResult> WriteAsync([FromQuery] string? path, HttpContext context, SandboxOperations sandboxes, CancellationToken cancellationToken)
    {
        var (sandbox, owner, status, message) = await E2bSandbox.FindAsync(context, sandboxes, cancellationToken);
        if (sandbox is null)
        {
            return E2bSandbox.Error(status, message!);
        }
        if (E2bSandbox.UserRefusal(context.Request) is { } user)
        {
            return E2bSandbox.Error(StatusCodes.Status403Forbidden, user);
        }
        var uploads = new List<(string Path, byte[] Content)>();
        if (context.Request.HasFormContentType)
        {
            foreach (var part in (await context.Request.ReadFormAsync(cancellationToken)).Files)
            {
                using var buffer = new MemoryStream();
                await part.CopyToAsync(buffer, cancellationToken);
                uploads.Add((path ?? part.FileName, buffer.ToArray()));
            }
        }
        else
        {
            using var buffer = new MemoryStream();
            await context.Request.Body.CopyToAsync(buffer, cancellationToken);
            uploads.Add((path ?? "", buffer.ToArray()));
        }
        var written = new JsonArray();
        foreach (var (e2bPath, content) in uploads)
        {
            if (E2bFormat.ToSandboxPath(e2bPath) is not { Length: > 0 } relative)
            {
                return E2bSandbox.Error(StatusCodes.Status403Forbidden, Outside(e2bPath));
            }
            var (command, problem) = await sandboxes.FileAsync(sandbox, SandboxCommandKinds.PutFile, relative, content, owner!, cancellationToken);
            if (Failure(command, problem, e2bPath) is { } failed)
            {
                return E2bSandbox.Error(failed.Status, failed.Message);
            }
            written.Add(new JsonObject { ["name"] = relative.Split('/')[^1], ["type"] = "file", ["path"] = E2bFormat.ToE2bPath(relative) });
        }
        return TypedResults.Json(written);
    }

    public static async Task<IResult> FilesystemAsync(string method, HttpContext context, SandboxOperations sandboxes, CancellationToken cancellationToken)
    {
        var (sandbox, owner, status, message) = await E2bSandbox.FindAsync(context, sandboxes, cancellationToken);
        if (sandbox is null)
        {
            return E2bSandbox.Error(status, message!);
        }
        if (E2bSandbox.UserRefusal(context.Request) is { } user)
        {
            return Connect("permission_denied", user);
        }
        if (await E2bSandbox.ReadObjectAsync(context, cancellationToken) is not { } request)
        {
            return Connect("invalid_argument", "The request is not a JSON object.");
        }
        var path = E2bSandbox.Text(request["path"]);
        return method switch
        {
            "Stat" => await StatAsync(sandbox, owner!, path, sandboxes, cancellationToken),
            "ListDir" => await ListDirAsync(sandbox, owner!, path, request["depth"]?.GetValueKind() == JsonValueKind.Number ? request["depth"]!.GetValue<int>() : 1,
                sandboxes, cancellationToken),
            "MakeDir" => await MakeDirAsync(sandbox, owner!, path, sandboxes, cancellationToken),
            "Remove" => await RemoveAsync(sandbox, owner!, path, sandboxes, cancellationToken),
            "Move" => await MoveAsync(sandbox, owner!, E2bSandbox.Text(request["source"]), E2bSandbox.Text(request["destination"]), sandboxes,
                cancellationToken),
            _ => Connect("unimplemented", $"Executor does not support filesystem.Filesystem/{method} (watching directories is not supported)."),
        };
    }

    private static async Task<IResult> StatAsync(SandboxRecord sandbox, Caller owner, string? path, SandboxOperations sandboxes, CancellationToken cancellationToken)
    {
        if (E2bFormat.ToSandboxPath(path) is not { } relative)
        {
            return Connect("permission_denied", Outside(path));
        }
        var (entries, failure) = await ListAsync(sandbox, owner, sandboxes, cancellationToken);
        if (failure is not null)
        {
            return failure;
        }
        var entry = relative.Length == 0 ? new SandboxFileEntry("", 0, "directory") : entries!.FirstOrDefault(e => e.Path == relative);
        return entry is null
            ? Connect("not_found", $"path '{path}' does not exist")
            : TypedResults.Json(new JsonObject { ["entry"] = Entry(entry) });
    }

    private static async Task<IResult> ListDirAsync(
        SandboxRecord sandbox, Caller owner, string? path, int depth, SandboxOperations sandboxes, CancellationToken cancellationToken)
    {
        if (E2bFormat.ToSandboxPath(path) is not { } relative)
        {
            return Connect("permission_denied", Outside(path));
        }
        var (entries, failure) = await ListAsync(sandbox, owner, sandboxes, cancellationToken);
        if (failure is not null)
        {
            return failure;
        }
        if (relative.Length > 0)
        {
            if (entries!.FirstOrDefault(e => e.Path == relative) is not { } directory)
            {
                return Connect("not_found", $"path '{path}' does not exist");
            }
            if (directory.Type != "directory")
            {
                return Connect("invalid_argument", $"path '{path}' is not a directory");
            }
        }
        var listed = new JsonArray();
        foreach (var entry in entries!.Where(e => E2bFormat.DepthUnder(relative, e.Path) is { } d && d <= Math.Max(depth, 1)))
        {
            listed.Add(Entry(entry));
        }
        return TypedResults.Json(new JsonObject { ["entries"] = listed });
    }

    private static async Task<IResult> MakeDirAsync(SandboxRecord sandbox, Caller owner, string? path, SandboxOperations sandboxes, CancellationToken cancellationToken)
    {
        if (E2bFormat.ToSandboxPath(path) is not { Length: > 0 } relative)
        {
            return Connect(E2bFormat.ToSandboxPath(path) is null ? "permission_denied" : "already_exists", Outside(path));
        }
        return await HiddenFileCallAsync(sandbox, owner, new JsonObject { ["path"] = relative }, """
            import os as _os
            try:
                _os.makedirs(_os.path.join("/sandbox", a["path"]))
                _r = "ok"
            except FileExistsError:
                _r = "already_exists"
            _r
            """, relative, sandboxes, cancellationToken);
    }

    private static async Task<IResult> RemoveAsync(SandboxRecord sandbox, Caller owner, string? path, SandboxOperations sandboxes, CancellationToken cancellationToken)
    {
        if (E2bFormat.ToSandboxPath(path) is not { Length: > 0 } relative)
        {
            return Connect("permission_denied", Outside(path));
        }
        var (command, problem) = await sandboxes.FileAsync(sandbox, SandboxCommandKinds.DeleteFile, relative, null, owner, cancellationToken);
        if (problem is null && command?.Result?.Sandbox?.Status == SandboxStatus.NotEmpty)
        {
            // E2B removes a directory with what it holds; the file operation removes only an empty one.
            return await HiddenFileCallAsync(sandbox, owner, new JsonObject { ["path"] = relative }, """
                import shutil as _sh
                _sh.rmtree(__import__("os").path.join("/sandbox", a["path"]))
                "ok"
                """, null, sandboxes, cancellationToken);
        }
        if (Failure(command, problem, path!) is { } failed)
        {
            return Connect(failed.Status == 404 ? "not_found" : ConnectCode(failed.Status), failed.Message);
        }
        return TypedResults.Json(new JsonObject());
    }

    private static async Task<IResult> MoveAsync(
        SandboxRecord sandbox, Caller owner, string? source, string? destination, SandboxOperations sandboxes, CancellationToken cancellationToken)
    {
        if (E2bFormat.ToSandboxPath(source) is not { Length: > 0 } from)
        {
            return Connect("permission_denied", Outside(source));
        }
        if (E2bFormat.ToSandboxPath(destination) is not { Length: > 0 } to)
        {
            return Connect("permission_denied", Outside(destination));
        }
        return await HiddenFileCallAsync(sandbox, owner, new JsonObject { ["from"] = from, ["to"] = to }, """
            import os as _os
            _t = _os.path.join("/sandbox", a["to"])
            _os.makedirs(_os.path.dirname(_t), exist_ok=True)
            _os.rename(_os.path.join("/sandbox", a["from"]), _t)
            "ok"
            """, to, sandboxes, cancellationToken);
    }

    /// <summary>
    /// A directory operation as a call in the surface's context; its last expression is "ok" or a Connect code. Answers
    /// the entry at <paramref name="entryPath"/> (or an empty message) as envd does.
    /// </summary>
    private static async Task<IResult> HiddenFileCallAsync(
        SandboxRecord sandbox, Caller owner, JsonObject arguments, string body, string? entryPath, SandboxOperations sandboxes,
        CancellationToken cancellationToken)
    {
        var (call, problem) = await E2bSandbox.RunHiddenAsync(sandboxes, sandbox, owner, E2bSandbox.Code(arguments, body), 30, null, cancellationToken);
        if (call is null)
        {
            return Connect("unavailable", problem!);
        }
        if (E2bSandbox.RaisedError(call) is var (name, value))
        {
            return Connect(name switch
            {
                "FileNotFoundError" => "not_found",
                "FileExistsError" => "already_exists",
                "PermissionError" => "permission_denied",
                "NotADirectoryError" or "IsADirectoryError" => "invalid_argument",
                _ => "internal",
            }, $"{name}: {value.Replace("/sandbox", E2bFormat.Home, StringComparison.Ordinal)}");
        }
        var result = E2bSandbox.Value(call)?.Trim('\'');
        if (result != "ok")
        {
            return Connect(result ?? "internal", result == "already_exists" ? "the directory already exists" : $"the operation ended {result}");
        }
        return entryPath is null
            ? TypedResults.Json(new JsonObject())
            : TypedResults.Json(new JsonObject { ["entry"] = Entry(new SandboxFileEntry(entryPath, 0, "directory")) });
    }

    private static async Task<(IReadOnlyList<SandboxFileEntry>? Entries, IResult? Failure)> ListAsync(
        SandboxRecord sandbox, Caller owner, SandboxOperations sandboxes, CancellationToken cancellationToken)
    {
        var (command, problem) = await sandboxes.FileAsync(sandbox, SandboxCommandKinds.ListFiles, "", null, owner, cancellationToken);
        if (Failure(command, problem, E2bFormat.Home) is { } failed)
        {
            return (null, Connect(ConnectCode(failed.Status), failed.Message));
        }
        return (command!.Result!.Sandbox!.Entries ?? [], null);
    }

    /// <summary>An entry as filesystem.EntryInfo's JSON (proto3: int64 as a string, enums by name).</summary>
    private static JsonObject Entry(SandboxFileEntry entry)
    {
        var directory = entry.Type == "directory";
        return new JsonObject
        {
            ["name"] = entry.Path.Length == 0 ? "user" : entry.Path.Split('/')[^1],
            ["type"] = directory ? "FILE_TYPE_DIRECTORY" : "FILE_TYPE_FILE",
            ["path"] = E2bFormat.ToE2bPath(entry.Path),
            ["size"] = entry.Size.ToString(CultureInfo.InvariantCulture),
            ["mode"] = directory ? 0x1ED : 0x1A4, // 0755, 0644
            ["permissions"] = directory ? "drwxr-xr-x" : "-rw-r--r--",
            ["owner"] = "user",
            ["group"] = "user",
        };
    }

    /// <summary>The status and message a file operation's failure answers, or null when it did what it was asked.</summary>
    private static (int Status, string Message)? Failure(SessionRecord? command, ProblemDetails? problem, string path)
    {
        if (problem is not null)
        {
            return (problem.Status == StatusCodes.Status410Gone ? StatusCodes.Status502BadGateway : problem.Status ?? 500, problem.Detail ?? problem.Title ?? "failed");
        }
        return command!.Result?.Sandbox?.Status switch
        {
            SandboxStatus.Ok => null,
            SandboxStatus.NotFound => (404, $"path '{path}' does not exist"),
            SandboxStatus.IsADirectory => (400, $"path '{path}' is a directory"),
            SandboxStatus.NotADirectory => (400, $"a parent of '{path}' is not a directory"),
            SandboxStatus.BadPath => (400, $"path '{path}' is not valid: {command.Result?.Detail}"),
            SandboxStatus.TooLarge or SandboxStatus.TooManyFiles => (507, command.Result?.Detail ?? "The sandbox's files are full."),
            SandboxStatus.SandboxGone => (502, command.Result?.Detail ?? "The sandbox has ended."),
            var other => (500, command.Result?.Detail ?? $"The file operation ended {other}."),
        };
    }

    private static string ConnectCode(int status) => status switch
    {
        400 => "invalid_argument",
        403 => "permission_denied",
        404 => "not_found",
        429 => "resource_exhausted",
        502 or 503 => "unavailable",
        507 => "resource_exhausted",
        _ => "internal",
    };

    private static string Outside(string? path) =>
        $"Executor's sandbox files live under {E2bFormat.Home} (its working directory, /sandbox): '{path}' is outside, or not a valid path.";

    /// <summary>A Connect unary error: its HTTP status and <c>{"code","message"}</c>.</summary>
    public static IResult Connect(string code, string message) =>
        TypedResults.Json(new JsonObject { ["code"] = code, ["message"] = message }, statusCode: E2bFormat.HttpStatusOf(code));
}
