using System.Collections.Concurrent;
using Microsoft.CodeAnalysis;

namespace KernelHarness.Analyzers.Provenance;

/// <summary>What an [Allocates] attribute says: family, and which parameters give the cache, order, gfp, reallocated pointer.</summary>
internal sealed record AllocApi(AllocFamily Family, bool CanFail, string? Cache, string? Order, string? Gfp, string? Reallocates);

/// <summary>What a [Frees] attribute says.</summary>
internal sealed record FreeApi(AllocFamily Family, string Pointer, string? Cache, string? Order);

/// <summary>
/// The allocator and free attributes of the facade, parsed once per method (KernelSymbols' ApiInfo
/// keeps only the family and gfp; provenance needs the cache and order parameters too).
/// </summary>
internal sealed class AllocApis
{
    private readonly KernelSymbols k;
    private readonly INamedTypeSymbol? takesOwnership;
    private readonly ConcurrentDictionary<IMethodSymbol, (AllocApi? Alloc, FreeApi? Free)> cache;

    public AllocApis(KernelSymbols k)
    {
        this.k = k;
        cache = k.DefinitionCache<(AllocApi?, FreeApi?)>();
        takesOwnership = k.Compilation.GetTypeByMetadataName("KernelHarness.Annotations.TakesOwnershipAttribute");
    }

    public AllocApi? Alloc(IMethodSymbol m) => Get(m).Alloc;

    public FreeApi? Free(IMethodSymbol m) => Get(m).Free;

    public bool TakesOwnership(IParameterSymbol? p)
    {
        if (p is null || takesOwnership is null)
            return false;
        foreach (var a in p.GetAttributes())
            if (SymbolEqualityComparer.Default.Equals(a.AttributeClass, takesOwnership))
                return true;
        return false;
    }

    private (AllocApi? Alloc, FreeApi? Free) Get(IMethodSymbol m)
    {
        m = KernelSymbols.Definition(m);
        return cache.TryGetValue(m, out var known) ? known : cache.GetOrAdd(m, Parse(m));
    }

    private (AllocApi? Alloc, FreeApi? Free) Parse(IMethodSymbol m)
    {
        AllocApi? alloc = null;
        FreeApi? free = null;
        foreach (var a in m.GetAttributes())
        {
            if (KernelSymbols.Is(a, k.Allocates) && a.ConstructorArguments.Length == 1 && a.ConstructorArguments[0].Value is int fam)
            {
                bool canFail = true;
                string? cacheP = null, order = null, gfp = null, realloc = null;
                foreach (var kv in a.NamedArguments)
                {
                    switch (kv.Key)
                    {
                        case "CanFail": canFail = kv.Value.Value is true; break;
                        case "Cache": cacheP = kv.Value.Value as string; break;
                        case "Order": order = kv.Value.Value as string; break;
                        case "Gfp": gfp = kv.Value.Value as string; break;
                        case "Reallocates": realloc = kv.Value.Value as string; break;
                    }
                }
                alloc = new AllocApi((AllocFamily)fam, canFail, cacheP, order, gfp, realloc);
            }
            else if (KernelSymbols.Is(a, k.Frees) && a.ConstructorArguments.Length == 2 && a.ConstructorArguments[0].Value is int ffam && a.ConstructorArguments[1].Value is string ptr)
            {
                string? cacheP = null, order = null;
                foreach (var kv in a.NamedArguments)
                {
                    if (kv.Key == "Cache") cacheP = kv.Value.Value as string;
                    else if (kv.Key == "Order") order = kv.Value.Value as string;
                }
                free = new FreeApi((AllocFamily)ffam, ptr, cacheP, order);
            }
        }
        return (alloc, free);
    }

    /// <summary>The Linux name of the free that matches a family.</summary>
    public static string FreeName(AllocFamily f) => f switch
    {
        AllocFamily.Kmalloc => "kfree",
        AllocFamily.KmemCache => "kmem_cache_free",
        AllocFamily.Vmalloc => "vfree",
        AllocFamily.Kvmalloc => "kvfree",
        AllocFamily.Pages => "free_pages",
        AllocFamily.PageStruct => "__free_pages",
        _ => "the matching free",
    };

    /// <summary>Does a free of <paramref name="free"/> accept memory of <paramref name="alloc"/> (families only)?</summary>
    public static bool Accepts(AllocFamily free, AllocFamily alloc)
    {
        if (alloc == AllocFamily.None || free == AllocFamily.None)
            return true;
        if (free == AllocFamily.Kvmalloc)
            return (alloc & ~AllocFamily.Kvmalloc) == 0;
        return alloc == free;
    }
}
