using Executor.SessionCore;
using Executor.SessionCore.Sessions;
using Executor.SessionCore.Storage;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Net.Http.Headers;

namespace Executor.Session.Apis;

/// <summary>GET /result/{id}/files/{path}: the files a run left in /sandbox/out/, byte for byte, to the session's owner.</summary>
public static class FilesApi
{
    public static IEndpointRouteBuilder MapFilesApi(this IEndpointRouteBuilder app)
    {
        app.MapGet("/result/{session_id}/files/{**path}", DownloadAsync)
            .WithName("GetResultFile")
            .WithTags("Sessions")
            .WithSummary("Downloads a file the script left in /sandbox/out/")
            .WithDescription("The path is as the result's 'files' list gives it (relative to out/). Served as an attachment, never rendered "
                + "by a browser on this origin; its ETag is its SHA-256.")
            .Produces<byte[]>(StatusCodes.Status200OK, "application/octet-stream")
            .ProducesProblem(StatusCodes.Status404NotFound);
        return app;
    }

    public static async Task<Results<FileContentHttpResult, ProblemHttpResult>> DownloadAsync(
        [FromRoute(Name = "session_id")] string sessionId, [FromRoute] string path, HttpContext context, ISessionStore store,
        IResultFiles files, SessionCommands sessions, CancellationToken cancellationToken)
    {
        var session = await sessions.FindOwnedAsync(sessionId, context, cancellationToken);
        if (session is null)
        {
            return TypedResults.Problem(Problems.SessionNotFound(sessionId));
        }
        var file = session.Result?.Files?.FirstOrDefault(f => f.Path == path);
        var content = file is null ? null : await files.ReadResultFileAsync(sessionId, file.Path, cancellationToken);
        if (file is null || content is null)
        {
            var why = SessionStatus.IsTerminal(session.Status)
                ? $"its run left no file '{path}' in out/ (see the result's files and dropped_files)"
                : "it has not ended yet: files come back with the result";
            return TypedResults.Problem(Problems.Create(StatusCodes.Status404NotFound, "file-not-found", "No such file",
                $"Session '{sessionId}' has no file '{path}': {why}."));
        }
        // The script chose these bytes: a browser must never run them as a page of this origin.
        var headers = context.Response.Headers;
        headers.XContentTypeOptions = "nosniff";
        headers.ContentSecurityPolicy = "default-src 'none'; sandbox";
        headers.CacheControl = "private, max-age=3600";
        return TypedResults.File(content, file.ContentType, fileDownloadName: file.Path[(file.Path.LastIndexOf('/') + 1)..],
            entityTag: new EntityTagHeaderValue($"\"{file.Sha256}\""));
    }
}
