namespace Executor.Contracts;

/// <summary>
/// The languages a runtime can be of (its <c>language</c> in GET /runtimes), with their source files' extensions and
/// the name a surface gives a program that comes without one (Judge0's source_code, Piston's unnamed file). An upload's
/// entry point is a file of one of these; with no runtime named, its extension picks the language.
/// </summary>
public static class SourceLanguages
{
    public const string Python = "python";
    public const string C = "c";
    public const string Cpp = "cpp";
    public const string Java = "java";
    public const string JavaScript = "javascript";
    public const string Bash = "bash";

    private static readonly (string Language, string DefaultFile, string[] Extensions)[] Known =
    [
        (Python, "main.py", [".py"]),
        (C, "main.c", [".c"]),
        (Cpp, "main.cpp", [".cpp", ".cc", ".cxx", ".c++"]),
        (Java, "Main.java", [".java"]),
        (JavaScript, "main.js", [".js", ".mjs", ".cjs"]),
        (Bash, "main.sh", [".sh", ".bash"]),
    ];

    /// <summary>Every language listed here, Python first.</summary>
    public static IReadOnlyList<string> All { get; } = [.. Known.Select(k => k.Language)];

    /// <summary>
    /// The language a client names: its id (cpp, javascript) or one of its extensions without the dot (cc, js, sh, py);
    /// null for a name that is neither.
    /// </summary>
    public static string? Named(string name)
    {
        var given = name.Trim().ToLowerInvariant();
        return All.Contains(given) ? given : given.Length > 0 && !given.Contains('.', StringComparison.Ordinal) ? OfFile("." + given) : null;
    }

    /// <summary>The language of a file by its extension; null for a file that is not a program's source.</summary>
    public static string? OfFile(string path) =>
        Known.FirstOrDefault(k => k.Extensions.Any(e => path.EndsWith(e, StringComparison.OrdinalIgnoreCase))).Language;

    /// <summary>The name of a program of that language that came without one (e.g. main.c); main.py for a language not listed.</summary>
    public static string DefaultFile(string language) =>
        Known.FirstOrDefault(k => k.Language == language).DefaultFile ?? "main.py";

    /// <summary>Whether the built-in runtimes of that language compile a program before it runs (C, C++, Java).</summary>
    public static bool Compiles(string? language) => language is C or Cpp or Java;

    /// <summary>Whether <paramref name="path"/> can be the entry point of a runtime of <paramref name="language"/> (any source file, for a language not listed).</summary>
    public static bool Fits(string language, string path) =>
        Known.Any(k => k.Language == language) ? OfFile(path) == language : OfFile(path) is not null;
}
