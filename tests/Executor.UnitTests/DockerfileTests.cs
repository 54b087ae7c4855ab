using System.Text.RegularExpressions;
using System.Xml.Linq;
using Executor.EndToEndTests;

namespace Executor.UnitTests;

/// <summary>
/// A service's Dockerfile builds from the repository root and copies only what it names: a project that the service's
/// project file references (directly or through another project) and that the Dockerfile does not copy breaks
/// <c>docker-compose up --build</c>, which no other test runs.
/// </summary>
public sealed partial class DockerfileTests
{
    public static TheoryData<string> ServiceDockerfiles() => new(Dockerfiles());

    /// <summary>The Dockerfiles that publish a project, relative to the root.</summary>
    private static IEnumerable<string> Dockerfiles() =>
        Directory.EnumerateFiles(Repository.Root, "Dockerfile", SearchOption.AllDirectories)
            .Where(path => Publishes(File.ReadAllText(path)) is not null)
            .Select(path => Path.GetRelativePath(Repository.Root, path).Replace('\\', '/'))
            .Order(StringComparer.Ordinal);

    [Fact]
    public void Every_service_has_a_dockerfile_that_publishes_it()
    {
        Assert.Equal(["Gateway/Dockerfile", "PrewarmService/Dockerfile", "RunnerService/Dockerfile", "SessionService/Dockerfile"],
            Dockerfiles());
    }

    [Theory]
    [MemberData(nameof(ServiceDockerfiles))]
    public void A_dockerfile_copies_every_project_its_service_references_before_restoring_and_publishing(string dockerfile)
    {
        var text = File.ReadAllText(Path.Combine(Repository.Root, dockerfile));
        var service = Publishes(text)!;
        var lines = text.Split('\n');
        var restore = Array.FindIndex(lines, line => line.TrimStart().StartsWith("RUN dotnet restore", StringComparison.Ordinal));
        var publish = Array.FindIndex(lines, line => line.TrimStart().StartsWith("RUN dotnet publish", StringComparison.Ordinal));
        Assert.True(restore >= 0 && publish > restore, $"{dockerfile} restores, then publishes");

        var missing = new List<string>();
        foreach (var project in Closure(service))
        {
            if (!Copied(lines[..restore], project))
            {
                missing.Add($"{project} (before restore)");
            }
            if (!Copied(lines[..publish], Path.GetDirectoryName(project)!.Replace('\\', '/') + "/"))
            {
                missing.Add($"{Path.GetDirectoryName(project)}/ (before publish)");
            }
        }
        Assert.True(missing.Count == 0, $"{dockerfile} does not copy: {string.Join(", ", missing)}");
    }

    /// <summary>The project a Dockerfile publishes, relative to the root (its build context).</summary>
    private static string? Publishes(string dockerfile) => PublishLine().Match(dockerfile) is { Success: true } match ? match.Groups[1].Value : null;

    /// <summary>The project and every project it references, transitively, relative to the root.</summary>
    private static SortedSet<string> Closure(string project)
    {
        var found = new SortedSet<string>(StringComparer.Ordinal);
        var pending = new Stack<string>([project]);
        while (pending.TryPop(out var next))
        {
            if (!found.Add(next))
            {
                continue;
            }
            var path = Path.Combine(Repository.Root, next);
            foreach (var reference in XDocument.Load(path).Descendants("ProjectReference"))
            {
                var target = Path.GetFullPath(Path.Combine(Path.GetDirectoryName(path)!, reference.Attribute("Include")!.Value.Replace('\\', '/')));
                pending.Push(Path.GetRelativePath(Repository.Root, target).Replace('\\', '/'));
            }
        }
        return found;
    }

    /// <summary>Whether a COPY from the build context (not from another stage) among the lines covers the path.</summary>
    private static bool Copied(IEnumerable<string> lines, string path) =>
        lines.Select(line => CopyLine().Match(line)).Where(match => match.Success)
            .SelectMany(match => match.Groups[1].Value.Split(' ', StringSplitOptions.RemoveEmptyEntries)[..^1])
            .Any(source => source == path || (source.EndsWith('/') && path.StartsWith(source, StringComparison.Ordinal)));

    [GeneratedRegex(@"RUN dotnet publish (\S+\.csproj)")]
    private static partial Regex PublishLine();

    [GeneratedRegex(@"^\s*COPY\s+(?!--from)(.+?)\s*$")]
    private static partial Regex CopyLine();
}
