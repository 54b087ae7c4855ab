namespace Executor.EndToEndTests;

public static class Repository
{
    /// <summary>The checkout's root: the folder holding Executor.sln, above the test binaries.</summary>
    public static string Root { get; } = FindRoot();

    private static string FindRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Executor.sln")))
            {
                return dir.FullName;
            }
        }
        throw new InvalidOperationException("Executor.sln not found above " + AppContext.BaseDirectory);
    }
}
