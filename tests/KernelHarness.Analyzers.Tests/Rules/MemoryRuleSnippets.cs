namespace KernelHarness.Analyzers.Tests.Rules;

/// <summary>A driver class with two slab caches, for the allocation rules (KH3001–KH3004).</summary>
public static class MemoryRuleSnippets
{
    public static string Caches(string members) => @"
public sealed class Cache
{
    private readonly kmem_cache cache_a = kmem_cache_create(""a"", 64, 8, 0, null)!;
    private readonly kmem_cache cache_b = kmem_cache_create(""b"", 128, 8, 0, null)!;
    private kptr obj;
    private kptr buf;
    private int count;
" + members + @"
}
";
}
