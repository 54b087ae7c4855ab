using System.IO.Compression;
using System.Text;
using System.Text.RegularExpressions;
using Executor.Contracts;
using Executor.SessionCore.Sessions;

namespace Executor.SessionCore.Submissions;

/// <summary>
/// The files of one session, as they will lie in the sandbox's work directory: from one or more uploaded files
/// and the entries of uploaded zips. Every name is checked: relative, no "..", no links, nothing outside the
/// directory. Sizes and counts are bounded as the bytes arrive, whatever a zip's headers claim.
/// </summary>
public sealed partial class WorkingDirectory(SessionServiceOptions options)
{
    public const string DefaultEntrypoint = "main.py";

    private static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);
    private readonly Dictionary<string, SessionFile> _files = new(StringComparer.Ordinal);
    private long _totalBytes;

    public IReadOnlyList<SessionFile> Files => [.. _files.Values];

    /// <summary>Adds one uploaded file; a .zip is unpacked into the directory instead.</summary>
    public Task AddAsync(IFormFile upload, bool onlyFile, CancellationToken cancellationToken) =>
        AddAsync(upload.FileName ?? "", upload.Length, upload.OpenReadStream, onlyFile, cancellationToken);

    /// <summary>A file that arrived as bytes (in a JSON body, or built by a surface), checked as an uploaded one is.</summary>
    public Task AddAsync(string clientName, byte[] content, bool onlyFile, CancellationToken cancellationToken) =>
        AddAsync(clientName, content.Length, () => new MemoryStream(content, writable: false), onlyFile, cancellationToken);

    private async Task AddAsync(string clientName, long length, Func<Stream> open, bool onlyFile, CancellationToken cancellationToken)
    {
        if (clientName.EndsWith(".zip", StringComparison.OrdinalIgnoreCase))
        {
            await using var zip = open();
            await AddZipAsync(zip, clientName, cancellationToken);
            return;
        }

        var path = onlyFile ? SingleScriptPath(clientName) : CheckedPath(clientName);
        // A lone file is the program: Python's source, or another language's (which a runtime of that language runs).
        if (onlyFile && SourceLanguages.OfFile(path) is null)
        {
            throw UploadRejectedException.BadRequest("not-python", "Not a program",
                $"'{clientName}' is not a program: the file name must end in .py (or .c, .cpp, .java, .js or .sh with a runtime of that "
                + "language), or upload a .zip, or several files.");
        }
        if (length == 0 && onlyFile)
        {
            throw UploadRejectedException.EmptyScript(clientName);
        }
        await using var content = open();
        Add(path, await ReadCappedAsync(content, path, cancellationToken));
    }

    /// <summary>The entry point: the one named, else main.py, else the only .py file.</summary>
    public string ResolveEntrypoint(string? requested)
    {
        if (!string.IsNullOrWhiteSpace(requested))
        {
            var path = CheckedPath(requested);
            if (!_files.ContainsKey(path) || SourceLanguages.OfFile(path) is null)
            {
                throw UploadRejectedException.BadRequest("bad-entrypoint", "No such entry point",
                    $"The entrypoint '{requested}' is not one of the uploaded programs ({string.Join(", ", SourceFiles())}).");
            }
            return path;
        }
        if (_files.ContainsKey(DefaultEntrypoint))
        {
            return DefaultEntrypoint;
        }
        // Python first, as ever; then a program of another language: the only one, or the only main.* among them.
        var candidates = PythonFiles().ToList() is { Count: > 0 } python ? python : SourceFiles().ToList();
        if (candidates.Count > 1 && candidates.Where(IsMain).ToList() is [var main])
        {
            return main;
        }
        return candidates switch
        {
            [var only] => only,
            [] => throw UploadRejectedException.BadRequest("no-entrypoint", "Nothing to run",
                "The upload holds no program: a .py file (or .c, .cpp, .java, .js or .sh with a runtime of that language)."),
            var many => throw UploadRejectedException.BadRequest("ambiguous-entrypoint", "Which file should run?",
                $"The upload holds several programs ({string.Join(", ", many)}) and no main.py: name one in the 'entrypoint' field."),
        };
    }

    private static bool IsMain(string path) => Path.GetFileNameWithoutExtension(path) is "main" or "Main" && !path.Contains('/', StringComparison.Ordinal);

    private IEnumerable<string> SourceFiles() => _files.Keys.Where(p => SourceLanguages.OfFile(p) is not null).Order(StringComparer.Ordinal);

    private IEnumerable<string> PythonFiles() => _files.Keys.Where(p => p.EndsWith(".py", StringComparison.Ordinal)).Order(StringComparer.Ordinal);

    private async Task AddZipAsync(Stream zip, string zipName, CancellationToken cancellationToken)
    {
        ZipArchive archive;
        try
        {
            archive = new ZipArchive(zip, ZipArchiveMode.Read);
        }
        catch (InvalidDataException e)
        {
            throw UploadRejectedException.BadRequest("bad-zip", "Unreadable zip", $"'{zipName}' is not a readable zip file: {e.Message}");
        }
        using (archive)
        {
            foreach (var entry in archive.Entries)
            {
                if (entry.FullName.EndsWith('/'))
                {
                    continue; // directories come with their files
                }
                const int UnixFileTypeMask = 0xF000, UnixSymlink = 0xA000;
                if (((entry.ExternalAttributes >> 16) & UnixFileTypeMask) == UnixSymlink)
                {
                    throw UploadRejectedException.BadRequest("bad-file-name", "Links are not allowed",
                        $"'{entry.FullName}' in '{zipName}' is a symbolic link: upload the file itself.");
                }
                var path = CheckedPath(entry.FullName);
                try
                {
                    await using var content = entry.Open();
                    Add(path, await ReadCappedAsync(content, path, cancellationToken));
                }
                catch (InvalidDataException e)
                {
                    throw UploadRejectedException.BadRequest("bad-zip", "Unreadable zip", $"'{entry.FullName}' in '{zipName}' cannot be read: {e.Message}");
                }
            }
        }
    }

    private void Add(string path, byte[] content)
    {
        if (_files.Count >= options.MaxFiles)
        {
            throw UploadRejectedException.TooLarge($"The upload holds more than {options.MaxFiles} files.");
        }
        if (!_files.TryAdd(path, new SessionFile(path, content)))
        {
            throw UploadRejectedException.BadRequest("duplicate-file", "Two files with one name", $"'{path}' is uploaded twice.");
        }
        if (_files.Keys.Any(other => other.StartsWith(path + "/", StringComparison.Ordinal) || path.StartsWith(other + "/", StringComparison.Ordinal)))
        {
            throw UploadRejectedException.BadRequest("duplicate-file", "A file where a directory should be",
                $"'{path}' is both a file and a directory in the upload.");
        }
        if (path.EndsWith(".py", StringComparison.Ordinal))
        {
            try
            {
                StrictUtf8.GetCharCount(content);
            }
            catch (DecoderFallbackException e)
            {
                throw UploadRejectedException.BadRequest("not-utf8", "Not UTF-8 text",
                    $"'{path}' is not UTF-8 text (invalid byte at offset {e.Index}): Python source must be UTF-8.");
            }
        }
    }

    /// <summary>Reads a file's bytes, refusing it as soon as it passes the per-file or the total limit.</summary>
    private async Task<byte[]> ReadCappedAsync(Stream content, string path, CancellationToken cancellationToken)
    {
        var buffer = new MemoryStream();
        var chunk = new byte[81920];
        int read;
        while ((read = await content.ReadAsync(chunk, cancellationToken)) > 0)
        {
            buffer.Write(chunk, 0, read);
            _totalBytes += read;
            if (buffer.Length > options.MaxScriptBytes)
            {
                throw new UploadRejectedException(Problems.Create(StatusCodes.Status413PayloadTooLarge, "script-too-large", "File too large",
                    $"'{path}' exceeds the limit of {options.MaxScriptBytes} bytes ({Mib(options.MaxScriptBytes)} MiB) per file."));
            }
            if (_totalBytes > options.MaxTotalFileBytes)
            {
                throw UploadRejectedException.TooLarge(
                    $"The files exceed the limit of {options.MaxTotalFileBytes} bytes ({Mib(options.MaxTotalFileBytes)} MiB) in all.");
            }
        }
        return buffer.ToArray();
    }

    /// <summary>
    /// A lone script keeps its name when it is a plain, safe file name (tracebacks then read naturally), else its
    /// language's default name (main.py, main.c, ...), so that it stays a program of the language it was sent as.
    /// </summary>
    private static string SingleScriptPath(string clientName)
    {
        var name = CheckedName(clientName);
        var baseName = name[(name.LastIndexOf('/') + 1)..];
        return SafeSegment().IsMatch(baseName) ? baseName
            : SourceLanguages.OfFile(baseName) is { } language ? SourceLanguages.DefaultFile(language) : DefaultEntrypoint;
    }

    /// <summary>A path inside the work directory, or a 400: never absolute, never "..", only plain characters.</summary>
    public static string CheckedPath(string clientName)
    {
        var name = CheckedName(clientName);
        if (name.Length > 255 || !name.Split('/').All(SafeSegment().IsMatch))
        {
            throw BadName(clientName, "use letters, digits, '.', '_' and '-' in names, and '/' between directories");
        }
        return name;
    }

    private static string CheckedName(string clientName)
    {
        var name = clientName.Trim();
        if (name.Length == 0)
        {
            throw BadName(clientName, "a file needs a name");
        }
        if (name.StartsWith('/') || name.Contains('\\', StringComparison.Ordinal) || name.Any(char.IsControl)
            || (name.Length >= 2 && name[1] == ':'))
        {
            throw BadName(clientName, "names are relative to the work directory");
        }
        if (name.Split('/').Any(segment => segment is "" or "." or ".."))
        {
            throw BadName(clientName, "'.', '..' and empty path segments are not allowed");
        }
        return name;
    }

    private static UploadRejectedException BadName(string clientName, string why) =>
        UploadRejectedException.BadRequest("bad-file-name", "Unsafe file name", $"'{clientName}' is not an allowed file name: {why}.");

    private static string Mib(long bytes) => (bytes / 1024.0 / 1024).ToString("0.##", System.Globalization.CultureInfo.InvariantCulture);

    [GeneratedRegex("^[A-Za-z0-9_][A-Za-z0-9._-]{0,99}$")]
    private static partial Regex SafeSegment();
}
