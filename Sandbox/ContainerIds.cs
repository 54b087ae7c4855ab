namespace Executor.Sandbox;

/// <summary>How logs and traces name a container: the engine's 12-character short form, or the whole id when shorter.</summary>
public static class ContainerIds
{
    public const int ShortLength = 12;

    public static string Abbreviate(string id) => id.Length > ShortLength ? id[..ShortLength] : id;
}
