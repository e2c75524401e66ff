using System.Collections.Concurrent;
using System.Collections.Generic;
using System.Collections.Immutable;
using System.Linq;
using Microsoft.CodeAnalysis;

namespace KernelHarness.Analyzers;

/// <summary>
/// The kernel API as the analyzers see it: attribute types and the gfp_t bit values, resolved once per
/// compilation from metadata, and each method's attributes parsed once. Nothing here knows a kernel
/// function by name: a function's meaning is the attributes the facade (or a student) put on it.
/// </summary>
internal sealed class KernelSymbols
{
    private readonly ConcurrentDictionary<IMethodSymbol, ApiInfo> apiInfo;
    private readonly ConcurrentDictionary<ISymbol, Role> roles = new(SymbolEqualityComparer.Default);

    private KernelSymbols(Compilation compilation, INamedTypeSymbol kernel)
    {
        Compilation = compilation;
        FunctionCapacity = EstimateFunctions(compilation);
        apiInfo = DefinitionCache<ApiInfo>();
        Kernel = kernel;
        Acquires = compilation.GetTypeByMetadataName("KernelHarness.AcquiresAttribute");
        Releases = compilation.GetTypeByMetadataName("KernelHarness.ReleasesAttribute");
        MustHold = compilation.GetTypeByMetadataName("KernelHarness.MustHoldAttribute");
        AtomicContext = compilation.GetTypeByMetadataName("KernelHarness.AtomicContextAttribute");
        ProcessContext = compilation.GetTypeByMetadataName("KernelHarness.ProcessContextAttribute");
        MightSleep = compilation.GetTypeByMetadataName("KernelHarness.MightSleepAttribute");
        MightSleepIfGfp = compilation.GetTypeByMetadataName("KernelHarness.Annotations.MightSleepIfGfpAttribute");
        EntersContext = compilation.GetTypeByMetadataName("KernelHarness.Annotations.EntersContextAttribute");
        LeavesContext = compilation.GetTypeByMetadataName("KernelHarness.Annotations.LeavesContextAttribute");
        PairsWith = compilation.GetTypeByMetadataName("KernelHarness.Annotations.PairsWithAttribute");
        Callback = compilation.GetTypeByMetadataName("KernelHarness.Annotations.CallbackAttribute");
        Allocates = compilation.GetTypeByMetadataName("KernelHarness.Annotations.AllocatesAttribute");
        Frees = compilation.GetTypeByMetadataName("KernelHarness.Annotations.FreesAttribute");
        KernelRoleAttr = compilation.GetTypeByMetadataName("KernelHarness.Annotations.KernelRoleAttribute");
        ReturnsErrnoAttr = compilation.GetTypeByMetadataName("KernelHarness.Annotations.ReturnsErrnoAttribute");
        KernelFunction = compilation.GetTypeByMetadataName("KernelHarness.Annotations.KernelFunctionAttribute");
        Gfp = compilation.GetTypeByMetadataName("KernelHarness.gfp_t");
        if (Gfp is not null)
        {
            foreach (var f in Gfp.GetMembers().OfType<IFieldSymbol>())
                if (f.HasConstantValue)
                    gfpBits[f.Name] = System.Convert.ToUInt64(f.ConstantValue, System.Globalization.CultureInfo.InvariantCulture);
        }
        foreach (var f in kernel.GetMembers().OfType<IFieldSymbol>())
        {
            if (f.IsConst && f.HasConstantValue && Gfp is not null && SymbolEqualityComparer.Default.Equals(f.Type, Gfp) && RoleOf(f) == Role.GfpFlags)
                gfpNamed.Add((f.Name, System.Convert.ToUInt64(f.ConstantValue, System.Globalization.CultureInfo.InvariantCulture)));
        }
    }

    private readonly Dictionary<string, ulong> gfpBits = new();
    private readonly List<(string Name, ulong Value)> gfpNamed = new();

    public Compilation Compilation { get; }
    public INamedTypeSymbol Kernel { get; }
    public INamedTypeSymbol? Acquires { get; }
    public INamedTypeSymbol? Releases { get; }
    public INamedTypeSymbol? MustHold { get; }
    public INamedTypeSymbol? AtomicContext { get; }
    public INamedTypeSymbol? ProcessContext { get; }
    public INamedTypeSymbol? MightSleep { get; }
    public INamedTypeSymbol? MightSleepIfGfp { get; }
    public INamedTypeSymbol? EntersContext { get; }
    public INamedTypeSymbol? LeavesContext { get; }
    public INamedTypeSymbol? PairsWith { get; }
    public INamedTypeSymbol? Callback { get; }
    public INamedTypeSymbol? Allocates { get; }
    public INamedTypeSymbol? Frees { get; }
    public INamedTypeSymbol? KernelRoleAttr { get; }
    public INamedTypeSymbol? ReturnsErrnoAttr { get; }
    public INamedTypeSymbol? KernelFunction { get; }
    public INamedTypeSymbol? Gfp { get; }

    /// <summary>
    /// How many functions the compilation's caches should expect: kernel-style code is short functions, about
    /// one per 150 characters of source. A cache made this size does not grow while it fills, and a growing
    /// concurrent dictionary makes every entry again at each doubling.
    /// </summary>
    public int FunctionCapacity { get; }

    private static int EstimateFunctions(Compilation compilation)
    {
        long characters = 0;
        foreach (var tree in compilation.SyntaxTrees)
            characters += tree.Length;
        return (int)System.Math.Min(System.Math.Max(characters / 150, 31), 1 << 20);
    }

    /// <summary>A cache with an entry per function of the compilation, sized by <see cref="FunctionCapacity"/>.</summary>
    public ConcurrentDictionary<TSymbol, TValue> FunctionCache<TSymbol, TValue>()
        where TSymbol : class, ISymbol
        => new(ConcurrencyLevel, FunctionCapacity, SymbolEqualityComparer.Default);

    /// <summary>
    /// A cache keyed by method definitions (<see cref="Definition"/>), asked at every call a rule looks at. A
    /// definition is one object in a compilation: compared by reference, not by symbol equality's chain of calls.
    /// (Two objects for one definition would only parse it twice.)
    /// </summary>
    public ConcurrentDictionary<IMethodSymbol, TValue> DefinitionCache<TValue>()
        => new(ConcurrencyLevel, FunctionCapacity, SameObject<IMethodSymbol>.Instance);

    /// <summary>The definition a call names: an extension method's unreduced form, a generic's original.</summary>
    public static IMethodSymbol Definition(IMethodSymbol method) => (method.ReducedFrom ?? method).OriginalDefinition;

    private sealed class SameObject<T> : IEqualityComparer<T>
        where T : class
    {
        public static readonly SameObject<T> Instance = new();
        public bool Equals(T? x, T? y) => ReferenceEquals(x, y);
        public int GetHashCode(T obj) => System.Runtime.CompilerServices.RuntimeHelpers.GetHashCode(obj);
    }

    /// <summary>A cache with an entry per declaration or syntax node of the compilation, sized by <see cref="FunctionCapacity"/>.</summary>
    public ConcurrentDictionary<TKey, TValue> DeclarationCache<TKey, TValue>()
        where TKey : class
        => new(ConcurrencyLevel, FunctionCapacity, EqualityComparer<TKey>.Default);

    // Lock stripes of the caches: a few are enough, as nearly every access is a read.
    private const int ConcurrencyLevel = 4;

    /// <summary>The symbols, or null when the compilation does not reference the kernel API.</summary>
    public static KernelSymbols? TryCreate(Compilation compilation)
    {
        var kernel = compilation.GetTypeByMetadataName("KernelHarness.Kernel");
        return kernel is null ? null : new KernelSymbols(compilation, kernel);
    }

    public ulong Bit(string name) => gfpBits.TryGetValue(name, out var v) ? v : 0;

    public ulong DirectReclaim => Bit("__GFP_DIRECT_RECLAIM");

    public bool AllowsBlocking(ulong gfp) => (gfp & DirectReclaim) != 0;

    /// <summary>The facade's name for a gfp_t value (a role-tagged constant such as GFP_KERNEL), if any.</summary>
    public string? NameOfGfp(ulong value) => gfpNamed.FirstOrDefault(g => g.Value == value).Name;

    public ulong GfpAtomic => Bit("__GFP_HIGH") | Bit("__GFP_KSWAPD_RECLAIM");
    public ulong GfpNoWait => Bit("__GFP_KSWAPD_RECLAIM");
    public ulong GfpKernel => Bit("__GFP_RECLAIM") | Bit("__GFP_IO") | Bit("__GFP_FS");
    public ulong GfpNoIo => Bit("__GFP_RECLAIM");
    public ulong GfpNoFs => Bit("__GFP_RECLAIM") | Bit("__GFP_IO");

    public bool IsGfp(ITypeSymbol? type) => type is not null && Gfp is not null && SymbolEqualityComparer.Default.Equals(type, Gfp);

    /// <summary>The [KernelRole] of a member; asked for every property and field reference a rule looks at, so kept.</summary>
    public Role RoleOf(ISymbol symbol)
    {
        if (roles.TryGetValue(symbol, out var known))
            return known;
        return roles.GetOrAdd(symbol, ReadRole(symbol));
    }

    private Role ReadRole(ISymbol symbol)
    {
        foreach (var a in symbol.GetAttributes())
            if (Is(a, KernelRoleAttr) && a.ConstructorArguments.Length == 1)
                return ApiInfo.EnumByName(a.ConstructorArguments[0], Role.None);
        return Role.None;
    }

    public static bool Is(AttributeData a, INamedTypeSymbol? type) => type is not null && SymbolEqualityComparer.Default.Equals(a.AttributeClass, type);

    public ApiInfo Info(IMethodSymbol method)
    {
        method = Definition(method);
        // Asked at every call the rules look at: a hit allocates nothing (no closure for GetOrAdd).
        if (apiInfo.TryGetValue(method, out var known))
            return known;
        var parsed = ApiInfo.Parse(this, method);
        // Most of the compilation's own functions carry no attribute: their answer is the shared empty one, found
        // again from their (kept) attributes, not kept in the cache for each of them.
        if (ReferenceEquals(parsed, ApiInfo.Empty) && SymbolEqualityComparer.Default.Equals(method.ContainingAssembly, Compilation.Assembly))
            return parsed;
        return apiInfo.GetOrAdd(method, parsed);
    }

    /// <summary>
    /// A function as the student wrote its call: the facade's name (<c>might_sleep</c>, <c>del_timer_sync</c>), not the
    /// Linux function behind it (<c>__might_sleep</c>, <c>timer_delete_sync</c>), which a message naming the call
    /// should not make the student look for.
    /// </summary>
    public string DisplayName(IMethodSymbol method)
        => method.MethodKind == MethodKind.AnonymousFunction ? "lambda" : method.Name;

    public IMethodSymbol? KernelMethod(string name) => Kernel.GetMembers(name).OfType<IMethodSymbol>().FirstOrDefault();
}

/// <summary>KernelHarness.Annotations.KernelRole, mirrored (values are the enum's).</summary>
internal enum Role
{
    None = 0, CurrentTask, Jiffies, TimeComparison, PrepareToWait, FinishWait, Schedule, WaitEvent, InitMm,
    InTaskPredicate, InInterruptPredicate, NullPointer, NullCheck, ErrorCheck, BusyWait, Dereference, GfpFlags,
}

/// <summary>KernelHarness.LockKind, mirrored.</summary>
internal enum LockKind
{
    Unknown = 0, Spin, SpinIrq, SpinIrqSave, SpinBh, ReadLock, ReadLockIrq, ReadLockIrqSave, ReadLockBh,
    WriteLock, WriteLockIrq, WriteLockIrqSave, WriteLockBh, Mutex, Semaphore, Rcu, MmapRead, MmapWrite,
    IrqSave, IrqDisable, Preempt, BottomHalf, KmapAtomic, RwSemRead, RwSemWrite,
}

/// <summary>KernelHarness.KernelContext, mirrored.</summary>
[System.Flags]
internal enum Ctx { None = 0, Process = 1, SoftIrq = 2, HardIrq = 4, Interrupt = 6, Atomic = 64 }

/// <summary>KernelHarness.AcquireCondition, mirrored.</summary>
internal enum When { Always = 0, ReturnsTrue, ReturnsNonZero, ReturnsZero, ReturnsNonNull }

/// <summary>KernelHarness.Annotations.AllocFamily, mirrored.</summary>
[System.Flags]
internal enum AllocFamily { None = 0, Kmalloc = 1, KmemCache = 2, Vmalloc = 4, Pages = 8, PageStruct = 16, Kvmalloc = Kmalloc | Vmalloc }

internal sealed record LockSpec(string Path, LockKind Kind, When When, string? FlagsParameter, bool IsContext);

internal sealed record CallbackSpec(string Parameter, Ctx Context);

/// <summary>What the attributes on one method say.</summary>
internal sealed class ApiInfo
{
    public static readonly ApiInfo Empty = new();

    public bool MightSleep { get; private set; }
    public Ctx SleepExceptIn { get; private set; }
    public string? SleepIfGfp { get; private set; }
    public ImmutableArray<LockSpec> Acquires { get; private set; } = ImmutableArray<LockSpec>.Empty;
    public ImmutableArray<LockSpec> Releases { get; private set; } = ImmutableArray<LockSpec>.Empty;
    public ImmutableArray<string> MustHold { get; private set; } = ImmutableArray<string>.Empty;
    public ImmutableArray<string> PairsWith { get; private set; } = ImmutableArray<string>.Empty;
    public ImmutableArray<CallbackSpec> Callbacks { get; private set; } = ImmutableArray<CallbackSpec>.Empty;
    public AllocFamily Allocates { get; private set; }
    public string? AllocGfp { get; private set; }

    /// <summary>Is the function marked [Frees] (provenance reads what it frees from <c>AllocApis</c>)?</summary>
    public bool FreesMemory { get; private set; }
    public Ctx DeclaredContext { get; private set; }
    public Role Role { get; private set; }

    /// <summary>[ReturnsErrno]: the result is 0 or a negative errno, so a non-zero one is an error to pass up.</summary>
    public bool ReturnsErrno { get; private set; }

    public bool IsKernelFunction { get; private set; }

    /// <summary>True when any attribute gives the method an effect the engine models.</summary>
    public bool HasEffects => MightSleep || SleepIfGfp is not null || !Acquires.IsEmpty || !Releases.IsEmpty || !Callbacks.IsEmpty || Role == Role.BusyWait;

    public bool HasLockAnnotations => !Acquires.IsEmpty || !Releases.IsEmpty || !MustHold.IsEmpty;

    public static ApiInfo Parse(KernelSymbols k, IMethodSymbol m)
    {
        var attrs = m.GetAttributes();
        if (m.AssociatedSymbol is IPropertySymbol p)
            attrs = attrs.AddRange(p.GetAttributes());
        if (attrs.IsEmpty)
            return Empty;
        var info = new ApiInfo();
        var acq = ImmutableArray.CreateBuilder<LockSpec>();
        var rel = ImmutableArray.CreateBuilder<LockSpec>();
        var must = ImmutableArray.CreateBuilder<string>();
        var pairs = ImmutableArray.CreateBuilder<string>();
        var cbs = ImmutableArray.CreateBuilder<CallbackSpec>();
        foreach (var a in attrs)
        {
            if (KernelSymbols.Is(a, k.MightSleep))
            {
                info.MightSleep = true;
                info.SleepExceptIn = NamedEnum(a, "ExceptIn", Ctx.None);
            }
            else if (KernelSymbols.Is(a, k.MightSleepIfGfp))
                info.SleepIfGfp = Arg(a, 0);
            else if (KernelSymbols.Is(a, k.Acquires))
                acq.Add(new LockSpec(Arg(a, 0) ?? "", NamedEnum(a, "Kind", LockKind.Unknown), NamedEnum(a, "When", When.Always), NamedString(a, "FlagsParameter"), false));
            else if (KernelSymbols.Is(a, k.Releases))
                rel.Add(new LockSpec(Arg(a, 0) ?? "", NamedEnum(a, "Kind", LockKind.Unknown), When.Always, NamedString(a, "FlagsParameter"), false));
            else if (KernelSymbols.Is(a, k.EntersContext))
                acq.Add(new LockSpec("", ArgEnum(a, 0, LockKind.Unknown), When.Always, NamedString(a, "FlagsParameter"), true));
            else if (KernelSymbols.Is(a, k.LeavesContext))
                rel.Add(new LockSpec("", ArgEnum(a, 0, LockKind.Unknown), When.Always, NamedString(a, "FlagsParameter"), true));
            else if (KernelSymbols.Is(a, k.MustHold))
                must.Add(Arg(a, 0) ?? "");
            else if (KernelSymbols.Is(a, k.PairsWith))
                pairs.Add(Arg(a, 0) ?? "");
            else if (KernelSymbols.Is(a, k.Callback))
                cbs.Add(new CallbackSpec(Arg(a, 0) ?? "", ArgEnum(a, 1, Ctx.None)));
            else if (KernelSymbols.Is(a, k.Allocates))
            {
                info.Allocates = ArgEnum(a, 0, AllocFamily.None);
                info.AllocGfp = NamedString(a, "Gfp");
            }
            else if (KernelSymbols.Is(a, k.Frees))
                info.FreesMemory = true;
            else if (KernelSymbols.Is(a, k.AtomicContext))
                info.DeclaredContext |= Ctx.Atomic;
            else if (KernelSymbols.Is(a, k.ProcessContext))
                info.DeclaredContext |= Ctx.Process;
            else if (KernelSymbols.Is(a, k.KernelRoleAttr))
                info.Role = ArgEnum(a, 0, Role.None);
            else if (KernelSymbols.Is(a, k.ReturnsErrnoAttr))
                info.ReturnsErrno = true;
            else if (KernelSymbols.Is(a, k.KernelFunction))
                info.IsKernelFunction = true;
        }
        info.Acquires = acq.ToImmutable();
        info.Releases = rel.ToImmutable();
        info.MustHold = must.ToImmutable();
        info.PairsWith = pairs.ToImmutable();
        info.Callbacks = cbs.ToImmutable();
        return info;
    }

    private static string? Arg(AttributeData a, int i) => a.ConstructorArguments.Length > i ? a.ConstructorArguments[i].Value as string : null;

    private static int ArgInt(AttributeData a, int i) => a.ConstructorArguments.Length > i && a.ConstructorArguments[i].Value is int v ? v : 0;

    private static int Named(AttributeData a, string name, int fallback)
    {
        foreach (var kv in a.NamedArguments)
            if (kv.Key == name && kv.Value.Value is int v)
                return v;
        return fallback;
    }

    private static T ArgEnum<T>(AttributeData a, int i, T fallback) where T : struct
        => a.ConstructorArguments.Length > i ? EnumByName(a.ConstructorArguments[i], fallback) : fallback;

    private static T NamedEnum<T>(AttributeData a, string name, T fallback) where T : struct
    {
        foreach (var kv in a.NamedArguments)
            if (kv.Key == name)
                return EnumByName(kv.Value, fallback);
        return fallback;
    }

    /// <summary>
    /// Maps an enum argument of the kernel's attributes onto the analyzers' mirror by member name, so
    /// that a member added to the API's enums (or reordered) never shifts what a value means here.
    /// Flag combinations with no single name are mapped bit by bit.
    /// </summary>
    public static T EnumByName<T>(TypedConstant c, T fallback) where T : struct
    {
        if (c.Value is null || c.Type is not INamedTypeSymbol type)
            return fallback;
        var value = System.Convert.ToInt64(c.Value, System.Globalization.CultureInfo.InvariantCulture);
        foreach (var f in type.GetMembers().OfType<IFieldSymbol>())
            if (f.HasConstantValue && System.Convert.ToInt64(f.ConstantValue, System.Globalization.CultureInfo.InvariantCulture) == value)
                return System.Enum.TryParse<T>(f.Name, out var named) ? named : fallback;
        long result = 0;
        foreach (var f in type.GetMembers().OfType<IFieldSymbol>())
        {
            if (!f.HasConstantValue)
                continue;
            var bit = System.Convert.ToInt64(f.ConstantValue, System.Globalization.CultureInfo.InvariantCulture);
            if (bit != 0 && (bit & (bit - 1)) == 0 && (value & bit) != 0 && System.Enum.TryParse<T>(f.Name, out var part))
                result |= System.Convert.ToInt64(part, System.Globalization.CultureInfo.InvariantCulture);
        }
        return result == 0 ? fallback : (T)System.Enum.ToObject(typeof(T), result);
    }

    private static string? NamedString(AttributeData a, string name)
    {
        foreach (var kv in a.NamedArguments)
            if (kv.Key == name)
                return kv.Value.Value as string;
        return null;
    }
}
