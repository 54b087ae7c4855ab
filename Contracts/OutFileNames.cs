using System.Text.RegularExpressions;

namespace Executor.Contracts;

/// <summary>
/// Names of the files a run hands back from /sandbox/out, checked as uploads' names are (SessionService's
/// WorkingDirectory): relative, '/' between directories, each part letters, digits, '.', '_' and '-', 255 characters at most.
/// </summary>
public static partial class OutFileNames
{
    public const int MaxLength = 255;

    public static bool IsValid(string? path) =>
        !string.IsNullOrEmpty(path) && path.Length <= MaxLength && path.Split('/').All(Segment().IsMatch);

    /// <summary>The media type a download is labelled with, from the name's extension; application/octet-stream when unknown.</summary>
    public static string ContentType(string path)
    {
        var dot = path.LastIndexOf('.');
        var slash = path.LastIndexOf('/');
        return dot > slash + 1 && Types.TryGetValue(path[(dot + 1)..], out var type) ? type : "application/octet-stream";
    }

    private static readonly Dictionary<string, string> Types = new(StringComparer.OrdinalIgnoreCase)
    {
        ["png"] = "image/png",
        ["jpg"] = "image/jpeg",
        ["jpeg"] = "image/jpeg",
        ["gif"] = "image/gif",
        ["webp"] = "image/webp",
        ["svg"] = "image/svg+xml",
        ["bmp"] = "image/bmp",
        ["pdf"] = "application/pdf",
        ["csv"] = "text/csv",
        ["tsv"] = "text/tab-separated-values",
        ["txt"] = "text/plain",
        ["log"] = "text/plain",
        ["md"] = "text/markdown",
        ["py"] = "text/x-python",
        ["json"] = "application/json",
        ["jsonl"] = "application/jsonl",
        ["xml"] = "application/xml",
        ["html"] = "text/html",
        ["htm"] = "text/html",
        ["yaml"] = "application/yaml",
        ["yml"] = "application/yaml",
        ["zip"] = "application/zip",
        ["gz"] = "application/gzip",
        ["tar"] = "application/x-tar",
        ["wav"] = "audio/wav",
        ["mp3"] = "audio/mpeg",
        ["npy"] = "application/octet-stream",
        ["parquet"] = "application/vnd.apache.parquet",
        ["sqlite"] = "application/vnd.sqlite3",
        ["db"] = "application/vnd.sqlite3",
    };

    [GeneratedRegex("^[A-Za-z0-9_][A-Za-z0-9._-]{0,99}$")]
    private static partial Regex Segment();
}
