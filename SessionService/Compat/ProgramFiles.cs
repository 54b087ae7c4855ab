using Executor.Contracts;
using Executor.Session.Uploads;
using Executor.SessionCore.Sessions;
using Executor.SessionCore.Submissions;

namespace Executor.Session.Compat;

/// <summary>
/// The working directory of a Judge0 or Piston program: the adapter names the program's file for its language (main.c,
/// Main.java, prog.py...). A Python program alone is read as a single uploaded script, as these surfaces always read it;
/// a program of another language is added by the name the adapter gave it, since a lone upload must be a .py file.
/// </summary>
public static class ProgramFiles
{
    public static async Task<WorkingDirectory> DirectoryAsync(
        IReadOnlyList<(string Name, byte[] Content)> files, string language, SessionServiceOptions options, CancellationToken cancellationToken)
    {
        if (language == SourceLanguages.Python)
        {
            return await JsonUploadReader.DirectoryAsync(files, options, cancellationToken);
        }
        var directory = new WorkingDirectory(options);
        foreach (var (name, content) in files)
        {
            await directory.AddAsync(name, content, onlyFile: false, cancellationToken);
        }
        return directory;
    }
}
