using System.Collections.Concurrent;
using System.Collections.Generic;
using System.Collections.Immutable;
using System.Linq;
using System.Runtime.CompilerServices;
using KernelHarness.Analyzers.ContextEngine;
using KernelHarness.Analyzers.Summaries;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp.Syntax;
using Microsoft.CodeAnalysis.Operations;

namespace KernelHarness.Analyzers.Provenance;

/// <summary>
/// Where a pointer came from: the allocator family, the cache (as a key in the frame of the method that
/// names it: <c>F:</c> a field or property, <c>P:n</c> a parameter, <c>L:</c> a local), the page order, and
/// the allocation site. <see cref="Via"/> names the helper a pointer was returned from.
/// </summary>
internal sealed record Origin(AllocFamily Family, string? CacheKey, string? CacheText, long? Order, string? OrderText, bool CanFail, string Api, Location Location, string? Via)
{
    public string Describe => Family == AllocFamily.KmemCache && CacheText is not null ? Api + "(" + CacheText + ")" : Api + "()";

    public bool SameKind(Origin o) => Family == o.Family && CacheKey == o.CacheKey && Order == o.Order;
}

/// <summary>A helper that frees one of its parameters: the parameter, how it frees it, and whether on every path.</summary>
internal sealed record FreeSummary(int Parameter, AllocFamily Family, string? CacheKey, string? CacheText, long? Order, string Api, bool Unconditional, string Chain);

/// <summary>
/// Allocation provenance for the whole compilation, computed lazily once and shared by KH3001–KH3004:
/// what a helper returns (flow-insensitive: every returned value is an allocation of one kind, or NULL),
/// which parameters a helper frees, what kind of allocation each pointer field holds (every assignment
/// to it in the compilation agrees), and the path-sensitive findings of each method.
/// </summary>
internal sealed class ProvenanceModel
{
    private static readonly ConditionalWeakTable<CompilationModel, ProvenanceModel> Models = new();

    private readonly ConcurrentDictionary<IMethodSymbol, Origin?> returns;
    private readonly ConcurrentDictionary<IMethodSymbol, ImmutableArray<FreeSummary>> frees;
    private readonly ConcurrentDictionary<SyntaxTree, List<Finding>> fileFindings = new();
    private readonly ConcurrentDictionary<ISymbol, Origin?> fieldOrigins = new(SymbolEqualityComparer.Default);
    private readonly ConcurrentDictionary<(IMethodSymbol Helper, int Ordinal), bool> keeps = new(HelperParameterComparer.Instance);

    private sealed class HelperParameterComparer : IEqualityComparer<(IMethodSymbol Helper, int Ordinal)>
    {
        public static readonly HelperParameterComparer Instance = new();
        public bool Equals((IMethodSymbol Helper, int Ordinal) x, (IMethodSymbol Helper, int Ordinal) y)
            => x.Ordinal == y.Ordinal && SymbolEqualityComparer.Default.Equals(x.Helper, y.Helper);
        public int GetHashCode((IMethodSymbol Helper, int Ordinal) obj) => SymbolEqualityComparer.Default.GetHashCode(obj.Helper) * 31 + obj.Ordinal;
    }

    private ProvenanceModel(CompilationModel model)
    {
        Model = model;
        K = model.Symbols;
        // Asked of the functions the compilation's own code calls, not of every function: not sized for all.
        returns = new(SymbolEqualityComparer.Default);
        frees = new(SymbolEqualityComparer.Default);
        Apis = new AllocApis(K);
        NoFail = K.Bit("__GFP_NOFAIL");
        // A file's findings are let go of with its code, as the context engine's are.
        model.FileReleased += tree => fileFindings.TryRemove(tree, out _);
    }

    public CompilationModel Model { get; }
    public KernelSymbols K { get; }
    public AllocApis Apis { get; }
    private ulong NoFail { get; }

    public static ProvenanceModel Get(CompilationModel model) => Models.GetValue(model, m => new ProvenanceModel(m));

    /// <summary>The findings of one function (not kept: see <see cref="FindingsIn"/>).</summary>
    public ImmutableArray<Finding> Analyze(IMethodSymbol method) => ProvenanceEngine.Run(this, method.OriginalDefinition);

    /// <summary>
    /// The findings in the code of one file's functions, in order: gathered once for the four rules that each report
    /// their own among them (nearly every file has none, and shares one empty list).
    /// </summary>
    public List<Finding> FindingsIn(SyntaxTree tree)
    {
        return fileFindings.TryGetValue(tree, out var known) ? known : fileFindings.GetOrAdd(tree, CompilationModel.Gather(Model.Index.MethodsIn(tree), Analyze));
    }

    public bool IsSource(IMethodSymbol m) => Model.Index.BodyOf(KernelSymbols.Definition(m)) is not null;

    // ------------------------------------------------------------------ origins (flow-insensitive)

    /// <summary>The origin of a value computed by one call: an allocator, or a helper that returns an allocation.</summary>
    public Origin? OriginOfCall(IInvocationOperation inv, IMethodSymbol frame, int depth = 0)
    {
        var target = inv.TargetMethod;
        var api = Apis.Alloc(target);
        if (api is not null)
        {
            string? cacheKey = null, cacheText = null, orderText = null;
            long? order = api.Order is null ? 0 : null;
            bool canFail = api.CanFail;
            foreach (var a in inv.Arguments)
            {
                var name = a.Parameter?.Name;
                if (name is null)
                    continue;
                if (name == api.Cache)
                {
                    cacheKey = KeyOf(a.Value);
                    cacheText = a.Value.Syntax.ToString().TrimEnd('!');
                }
                else if (name == api.Order)
                {
                    orderText = a.Value.Syntax.ToString();
                    order = Eval.Const(a.Value, frame, default) is { } c ? ToLong(c) : null;
                }
                else if (name == api.Gfp && NoFail != 0 && Eval.Gfp(a.Value, frame, default) is ulong g && (g & NoFail) != 0)
                    canFail = false;
            }
            return new Origin(api.Family, cacheKey, cacheText, order, orderText, canFail, K.DisplayName(target), inv.Syntax.GetLocation(), null);
        }
        if (depth > 3 || !IsSource(target))
            return null;
        var ret = ReturnOrigin(target, depth + 1);
        if (ret is null)
            return null;
        var via = target.Name + "()" + (ret.Via is null ? "" : " -> " + ret.Via);
        if (ret.CacheKey is not null && ret.CacheKey.StartsWith("P:", System.StringComparison.Ordinal)
            && int.TryParse(ret.CacheKey.Substring(2), System.Globalization.NumberStyles.Integer, System.Globalization.CultureInfo.InvariantCulture, out var ord))
        {
            var arg = Eval.ArgumentAt(inv.Arguments, ord);
            return ret with { CacheKey = arg is null ? null : KeyOf(arg.Value), CacheText = arg?.Value.Syntax.ToString().TrimEnd('!'), Via = via };
        }
        return ret with { Via = via };
    }

    /// <summary>What a helper returns, when every returned value is an allocation of one kind (or NULL).</summary>
    public Origin? ReturnOrigin(IMethodSymbol m, int depth = 0)
    {
        m = m.OriginalDefinition;
        if (returns.TryGetValue(m, out var cached))
            return cached;
        Origin? result = null;
        var body = Model.Index.BodyOf(m);
        if (body is not null && m.MethodKind == MethodKind.Ordinary && !m.ReturnsVoid && depth <= 3)
        {
            var found = new List<Origin>();
            bool unknown = false;
            foreach (var op in Eval.OwnOperations(body))
                if (op is IReturnOperation { ReturnedValue: { } v })
                    unknown |= !ValueOrigins(v, body, m, depth, found);
            if (!unknown && found.Count > 0 && found.All(o => o.SameKind(found[0])))
                result = found[0] with { CanFail = found.Any(o => o.CanFail) };
        }
        if (depth == 0)
            returns.TryAdd(m, result);
        return result;
    }

    /// <summary>Adds the origins a value may have; false when some are unknown.</summary>
    private bool ValueOrigins(IOperation v, IOperation body, IMethodSymbol frame, int depth, List<Origin> found, int hops = 0)
    {
        v = Eval.Unwrap(v);
        if (IsNullish(v))
            return true;
        if (v is IInvocationOperation inv)
        {
            var o = OriginOfCall(inv, frame, depth);
            if (o is null)
                return false;
            found.Add(o);
            return true;
        }
        if (v is ILocalReferenceOperation l && hops < 3)
        {
            bool ok = true, any = false;
            foreach (var op in Eval.OwnOperations(body))
            {
                IOperation? value = op switch
                {
                    ISimpleAssignmentOperation { Target: ILocalReferenceOperation t } a when SymbolEqualityComparer.Default.Equals(t.Local, l.Local) => a.Value,
                    IVariableDeclaratorOperation d when SymbolEqualityComparer.Default.Equals(d.Symbol, l.Local) => d.Initializer?.Value,
                    _ => null,
                };
                if (value is null)
                    continue;
                any = true;
                ok &= ValueOrigins(value, body, frame, depth, found, hops + 1);
            }
            return ok && any;
        }
        return false;
    }

    /// <summary>NULL, 0, default, ERR_PTR(…): values that are no allocation.</summary>
    public bool IsNullish(IOperation v)
    {
        v = Eval.Unwrap(v);
        if (v.ConstantValue.HasValue)
            return v.ConstantValue.Value is null || (ToLong(v.ConstantValue.Value) is long n && n == 0);
        switch (v)
        {
            case IDefaultValueOperation:
                return true;
            case IFieldReferenceOperation f:
                return K.RoleOf(f.Field) == Role.NullPointer;
            case IPropertyReferenceOperation p:
                return K.RoleOf(p.Property) == Role.NullPointer;
            case IInvocationOperation inv:
                return K.DisplayName(inv.TargetMethod) == "ERR_PTR";
            case IObjectCreationOperation oc when oc.Arguments.Length == 0 && oc.Initializer is null && oc.Type?.IsValueType == true:
                return true;
        }
        return false;
    }

    /// <summary>A key for a cache (or any object) expression in the frame of its method.</summary>
    public static string? KeyOf(IOperation op)
    {
        op = Eval.Unwrap(op);
        return op switch
        {
            IFieldReferenceOperation f => "F:" + f.Field.OriginalDefinition.ToDisplayString(),
            IPropertyReferenceOperation p when p.Arguments.IsEmpty => "F:" + p.Property.OriginalDefinition.ToDisplayString(),
            IParameterReferenceOperation pr => "P:" + pr.Parameter.Ordinal.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ILocalReferenceOperation l => "L:" + l.Local.Name + "@" + (l.Local.Locations.FirstOrDefault()?.SourceSpan.Start ?? 0).ToString(System.Globalization.CultureInfo.InvariantCulture),
            _ => null,
        };
    }

    public static long? ToLong(object? v) => v switch
    {
        int i => i,
        long l => l,
        uint u => u,
        ulong ul => unchecked((long)ul),
        short s => s,
        byte b => b,
        _ => null,
    };

    // ------------------------------------------------------------------ free summaries

    /// <summary>The parameters a helper frees (directly or through another helper).</summary>
    /// <summary>
    /// May a helper keep the pointer passed as parameter <paramref name="ordinal"/> (store it, return it,
    /// capture it, hand it to code that may)? Only a helper whose every use of the parameter is a read —
    /// a comparison, or an argument to a kernel function that takes no ownership, or to a helper that keeps
    /// nothing either — leaves the caller owning the pointer. Unknown code keeps it.
    /// </summary>
    public bool KeepsParameter(IMethodSymbol helper, int ordinal, int depth = 0)
    {
        helper = KernelSymbols.Definition(helper);
        return keeps.GetOrAdd((helper, ordinal), key => ComputeKeeps(key.Helper, key.Ordinal, depth));
    }

    private bool ComputeKeeps(IMethodSymbol helper, int ordinal, int depth)
    {
        var body = Model.Index.BodyOf(helper);
        if (body is null || depth > 3 || ordinal >= helper.Parameters.Length)
            return true;
        var parameter = helper.Parameters[ordinal];
        foreach (var op in body.DescendantsAndSelf())
        {
            if (op is not IParameterReferenceOperation pr || !SymbolEqualityComparer.Default.Equals(pr.Parameter.OriginalDefinition, parameter))
                continue;
            for (var a = op.Parent; a is not null && !ReferenceEquals(a, body); a = a.Parent)
                if (a is IAnonymousFunctionOperation or ILocalFunctionOperation)
                    return true; // captured
            var use = op.Parent;
            while (use is IConversionOperation or IParenthesizedOperation)
                use = use.Parent;
            switch (use)
            {
                case IBinaryOperation or IIsPatternOperation:
                    continue;
                case IArgumentOperation { Parent: IInvocationOperation call } arg:
                    var callee = call.TargetMethod;
                    if (SymbolEqualityComparer.Default.Equals(callee.ContainingType, K.Kernel) && !Apis.TakesOwnership(arg.Parameter))
                        continue;
                    if (IsSource(callee) && arg.Parameter is { } p && !KeepsParameter(callee, p.Ordinal, depth + 1))
                        continue;
                    return true;
                default:
                    return true;
            }
        }
        return false;
    }

    public ImmutableArray<FreeSummary> FreesOf(IMethodSymbol m, int depth = 0)
    {
        m = KernelSymbols.Definition(m);
        if (frees.TryGetValue(m, out var cached))
            return cached;
        // Asked at every call of the compilation's own functions: one without parameters, or whose calls free
        // nothing and go to none of the compilation's code (the index noted it as it scanned), frees no parameter.
        if (m.Parameters.IsEmpty || (Model.Index.CallsOf(m) & CallKinds.Memory) == 0)
            return ImmutableArray<FreeSummary>.Empty;
        var list = ImmutableArray.CreateBuilder<FreeSummary>();
        var body = Model.Index.BodyOf(m);
        if (body is not null && depth <= 3)
        {
            foreach (var op in Eval.OwnOperations(body))
            {
                if (op is not IInvocationOperation inv)
                    continue;
                var free = Apis.Free(inv.TargetMethod);
                if (free is not null)
                {
                    var ptr = Eval.Argument(inv.Arguments, free.Pointer);
                    if (ptr is null || Eval.Unwrap(ptr.Value) is not IParameterReferenceOperation pr || !SymbolEqualityComparer.Default.Equals(pr.Parameter.ContainingSymbol.OriginalDefinition, m))
                        continue;
                    string? cacheKey = null, cacheText = null;
                    long? order = free.Order is null ? 0 : null;
                    foreach (var a in inv.Arguments)
                    {
                        if (a.Parameter?.Name == free.Cache && free.Cache is not null)
                        {
                            cacheKey = KeyOf(a.Value);
                            cacheText = a.Value.Syntax.ToString().TrimEnd('!');
                        }
                        else if (a.Parameter?.Name == free.Order && free.Order is not null)
                            order = Eval.Const(a.Value, m, default) is { } c ? ToLong(c) : null;
                    }
                    var api = K.DisplayName(inv.TargetMethod);
                    list.Add(new FreeSummary(pr.Parameter.Ordinal, free.Family, cacheKey, cacheText, order, api, IsUnconditional(inv, body), m.Name + "() -> " + api + "()"));
                }
                else if (IsSource(inv.TargetMethod) && depth < 3)
                {
                    foreach (var inner in FreesOf(inv.TargetMethod, depth + 1))
                    {
                        var arg = Eval.ArgumentAt(inv.Arguments, inner.Parameter);
                        if (arg is null || Eval.Unwrap(arg.Value) is not IParameterReferenceOperation pr || !SymbolEqualityComparer.Default.Equals(pr.Parameter.ContainingSymbol.OriginalDefinition, m))
                            continue;
                        var mapped = MapCache(inner.CacheKey, inner.CacheText, inv);
                        list.Add(inner with { Parameter = pr.Parameter.Ordinal, CacheKey = mapped.Key, CacheText = mapped.Text, Unconditional = inner.Unconditional && IsUnconditional(inv, body), Chain = m.Name + "() -> " + inner.Chain });
                    }
                }
            }
        }
        var result = list.ToImmutable();
        if (depth == 0)
            frees.TryAdd(m, result);
        return result;
    }

    /// <summary>A callee-frame cache key mapped to the caller's frame at a call (parameters become the arguments).</summary>
    public static (string? Key, string? Text) MapCache(string? key, string? text, IInvocationOperation call)
    {
        if (key is null || !key.StartsWith("P:", System.StringComparison.Ordinal))
            return (key, text);
        if (!int.TryParse(key.Substring(2), System.Globalization.NumberStyles.Integer, System.Globalization.CultureInfo.InvariantCulture, out var ord))
            return (null, null);
        var arg = Eval.ArgumentAt(call.Arguments, ord);
        return arg is null ? (null, null) : (KeyOf(arg.Value), arg.Value.Syntax.ToString().TrimEnd('!'));
    }

    /// <summary>True when nothing between the body and the operation makes it conditional.</summary>
    private static bool IsUnconditional(IOperation op, IOperation body)
    {
        for (var p = op.Parent; p is not null && !ReferenceEquals(p, body); p = p.Parent)
            if (p is IConditionalOperation or ILoopOperation or ISwitchOperation or ITryOperation or IConditionalAccessOperation or ICoalesceOperation or ISwitchExpressionOperation
                || p is IBinaryOperation { OperatorKind: BinaryOperatorKind.ConditionalAnd or BinaryOperatorKind.ConditionalOr })
                return false;
        // An earlier return in the body makes what follows it conditional.
        foreach (var r in Eval.OwnOperations(body))
            if (r is IReturnOperation && r.Syntax.SpanStart < op.Syntax.SpanStart && !r.IsImplicit)
                return false;
        return true;
    }

    // ------------------------------------------------------------------ fields

    /// <summary>The one kind of allocation every assignment in the compilation stores in a field, if they agree.</summary>
    public Origin? FieldOrigin(ISymbol field)
    {
        field = field.OriginalDefinition;
        return fieldOrigins.TryGetValue(field, out var known) ? known : fieldOrigins.GetOrAdd(field, ComputeFieldOrigin);
    }

    private Origin? ComputeFieldOrigin(ISymbol field)
    {
        if (!field.Locations.Any(l => l.IsInSource))
            return null;
        var all = new List<Origin>();
        foreach (var site in Model.Index.OperationsMentioning(field, OperationKind.SimpleAssignment))
        {
            var a = (ISimpleAssignmentOperation)site.Operation;
            if (a.Syntax is not AssignmentExpressionSyntax { Right: InvocationExpressionSyntax or IdentifierNameSyntax or MemberAccessExpressionSyntax or PostfixUnaryExpressionSyntax or CastExpressionSyntax })
                continue;
            ISymbol? target = Eval.Unwrap(a.Target) switch
            {
                IFieldReferenceOperation f => f.Field,
                IPropertyReferenceOperation p when p.Arguments.IsEmpty => p.Property,
                _ => null,
            };
            if (target is null || !SymbolEqualityComparer.Default.Equals(target.OriginalDefinition, field))
                continue;
            var frame = CompilationIndex.EnclosingFunction(site)?.OriginalDefinition;
            var body = frame is null ? null : Model.Index.BodyOf(frame);
            var list = new List<Origin>();
            if (body is null || frame is null || !ValueOrigins(a.Value, body, frame, 0, list))
                return null; // one assignment of something unknown: the field may hold anything
            foreach (var o in list)
                all.Add(o.CacheKey is not null && !o.CacheKey.StartsWith("F:", System.StringComparison.Ordinal) ? o with { CacheKey = null, CacheText = null } : o);
        }
        return all.Count > 0 && all.All(o => o.SameKind(all[0])) ? all[0] with { CanFail = false } : null;
    }
}
