using System.Collections.Concurrent;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using System.Runtime.CompilerServices;
using System.Text;
using KernelHarness.Analyzers.Summaries;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.Operations;

namespace KernelHarness.Analyzers.Rules;

/// <summary>One request_irq / request_threaded_irq call, with the irq and dev_id it names resolved to keys.</summary>
internal sealed record IrqRequest(IInvocationOperation Call, IMethodSymbol Caller, string? IrqKey, string IrqText, string? DevKey, string DevText, ulong? Flags, IOperation? Handler);

/// <summary>
/// The IRQ registrations of the compilation (for KH4001, KH4002, KH4004), found once: calls of the
/// facade functions that register a hard-IRQ handler and pair with a free (request_irq,
/// request_threaded_irq). The irq and dev_id expressions resolve to keys — a constant, a field, the same
/// parameter name, <c>this</c> of a type, a local with a single assignment — so two calls can be compared.
/// </summary>
internal sealed class IrqRequests
{
    private static readonly ConditionalWeakTable<CompilationModel, IrqRequests> Cache = new();

    private readonly CompilationModel model;

    private IrqRequests(CompilationModel model)
    {
        this.model = model;
        var k = model.Symbols;
        Shared = k.Kernel.GetMembers("IRQF_SHARED").OfType<IFieldSymbol>().FirstOrDefault()?.ConstantValue is { } v ? System.Convert.ToUInt64(v, CultureInfo.InvariantCulture) : 0x80;
        var frees = new HashSet<IMethodSymbol>(SymbolEqualityComparer.Default);
        foreach (var m in k.Kernel.GetMembers().OfType<IMethodSymbol>())
        {
            var info = k.Info(m);
            if (!RegistersHardIrqHandler(m, info))
                continue;
            Requests.Add(m);
            foreach (var pair in info.PairsWith)
                foreach (var f in k.Kernel.GetMembers(pair).OfType<IMethodSymbol>())
                    frees.Add(f);
        }
        Frees = frees;
        foreach (var m in Requests)
            RequestNames.Add(m.Name);
        foreach (var m in Frees)
            FreeNames.Add(m.Name);
    }

    public static IrqRequests Get(CompilationModel model) => Cache.GetValue(model, m => new IrqRequests(m));

    public ulong Shared { get; }
    public HashSet<IMethodSymbol> Requests { get; } = new(SymbolEqualityComparer.Default);
    public HashSet<IMethodSymbol> Frees { get; }

    /// <summary>The names of <see cref="Requests"/> and <see cref="Frees"/>: a cheap first test at every call of a file.</summary>
    public HashSet<string> RequestNames { get; } = new(System.StringComparer.Ordinal);

    public HashSet<string> FreeNames { get; } = new(System.StringComparer.Ordinal);

    /// <summary>Does the call register a hard-IRQ handler (request_irq, request_threaded_irq)?</summary>
    public bool IsRequest(IInvocationOperation call) => RequestNames.Contains(call.TargetMethod.Name) && Requests.Contains(call.TargetMethod.OriginalDefinition);

    /// <summary>
    /// The requests among a file's calls (<c>Operations(OperationKind.Invocation)</c>), in file order, each described
    /// with the function whose code makes it: what KH4001 and KH4004 look at.
    /// </summary>
    public List<IrqRequest> RequestsIn(FileOperations calls)
    {
        List<IrqRequest>? found = null;
        foreach (var site in calls)
        {
            var inv = (IInvocationOperation)site.Operation;
            if (IsRequest(inv))
                (found ??= new List<IrqRequest>(1)).Add(Describe(inv, site.Member as IMethodSymbol ?? inv.TargetMethod));
        }
        return found ?? NoRequests;
    }

    private static readonly List<IrqRequest> NoRequests = new();

    /// <summary>Does the call free an IRQ line (free_irq)?</summary>
    public bool IsFree(IInvocationOperation call) => FreeNames.Contains(call.TargetMethod.Name) && Frees.Contains(call.TargetMethod.OriginalDefinition);

    /// <summary>
    /// The requests in the compilation that may name the same irq as <paramref name="irq"/>, in file order:
    /// those in the code that mentions the symbol the expression is built on (a field, parameter, local or
    /// named constant), or every request when it is a literal.
    /// </summary>
    public List<IrqRequest> RequestsLike(IOperation irq)
    {
        var root = Eval.Unwrap(irq);
        while (root is IMemberReferenceOperation { Instance: { } inner } && inner is not IInstanceReferenceOperation)
            root = Eval.Unwrap(inner);
        ISymbol? symbol = root switch
        {
            IMemberReferenceOperation m => m.Member.OriginalDefinition,
            IParameterReferenceOperation p => p.Parameter,
            ILocalReferenceOperation l => l.Local,
            _ => null,
        };
        // A parameter's key is its name in any method ("the same parameter"): look for the name everywhere.
        // A literal: every request, found in the code that names a request function (once, though it may name two).
        var sites = symbol is null ? RequestNames.SelectMany(name => model.Index.OperationsMentioning(name, OperationKind.Invocation)).Distinct(SameOperation.Instance)
            : symbol is IParameterSymbol ? model.Index.OperationsMentioning(symbol.Name, OperationKind.Invocation)
            : model.Index.OperationsMentioning(symbol, OperationKind.Invocation);
        // Asked at every free_irq, and nearly always answered by one request: a list, sorted only when longer.
        var found = new List<IrqRequest>(1);
        foreach (var site in sites)
            if (site.Operation is IInvocationOperation inv && IsRequest(inv) && (CompilationIndex.EnclosingFunction(site) ?? site.Member) is IMethodSymbol caller)
                found.Add(Describe(inv, caller));
        if (found.Count > 1)
            found.Sort(InFileOrder);
        return found;
    }

    private static int InFileOrder(IrqRequest a, IrqRequest b)
    {
        int c = System.StringComparer.Ordinal.Compare(a.Call.Syntax.SyntaxTree.FilePath, b.Call.Syntax.SyntaxTree.FilePath);
        return c != 0 ? c : a.Call.Syntax.SpanStart.CompareTo(b.Call.Syntax.SpanStart);
    }

    private sealed class SameOperation : IEqualityComparer<OperationSite>
    {
        public static readonly SameOperation Instance = new();
        public bool Equals(OperationSite x, OperationSite y) => ReferenceEquals(x.Operation, y.Operation);
        public int GetHashCode(OperationSite site) => RuntimeHelpers.GetHashCode(site.Operation);
    }

    private static bool RegistersHardIrqHandler(IMethodSymbol m, ApiInfo info)
        => info.Callbacks.Any(c => c.Context == Ctx.HardIrq) && !info.PairsWith.IsEmpty
           && m.Parameters.Any(p => p.Name == "irq") && m.Parameters.Any(p => p.Name == "dev") && m.Parameters.Any(p => p.Name == "flags");

    // KH4001, KH4002 and KH4004 each describe every request of a file: described once, kept while the call's
    // operation lives (a file's operations are let go of after its analysis).
    private readonly ConditionalWeakTable<IInvocationOperation, IrqRequest> described = new();

    public IrqRequest Describe(IInvocationOperation call, IMethodSymbol caller)
    {
        if (described.TryGetValue(call, out var known) && SymbolEqualityComparer.Default.Equals(known.Caller, caller))
            return known;
        var request = DescribeCore(call, caller);
        if (known is null)
            described.GetValue(call, _ => request);
        return request;
    }

    private IrqRequest DescribeCore(IInvocationOperation call, IMethodSymbol caller)
    {
        IOperation? Arg(string name) => Eval.Argument(call.Arguments, name)?.Value;
        var irq = Arg("irq");
        var dev = Arg("dev");
        var flags = Arg("flags");
        ulong? f = flags is not null && Eval.Const(flags, caller, default) is { } c ? Eval.ToULong(c) : null;
        return new IrqRequest(call, caller, irq is null ? null : Key(irq, caller), irq?.Syntax.ToString() ?? "?", dev is null ? null : Key(dev, caller), dev?.Syntax.ToString() ?? "?", f, Arg("handler"));
    }

    /// <summary>A key that names the same irq or dev_id wherever it is written in the compilation.</summary>
    public string? Key(IOperation op, IMethodSymbol frame, int depth = 0)
    {
        op = Eval.Unwrap(op);
        if (op.ConstantValue.HasValue)
            return op.ConstantValue.Value is null ? "null" : "c:" + System.Convert.ToString(op.ConstantValue.Value, CultureInfo.InvariantCulture);
        switch (op)
        {
            case IInstanceReferenceOperation i:
                return i.Type is null ? "this:" : KeyOf(i.Type);
            case IFieldReferenceOperation f when f.Instance is null or IInstanceReferenceOperation:
                return KeyOf(f.Field.OriginalDefinition);
            case IPropertyReferenceOperation p when p.Arguments.IsEmpty && p.Instance is null or IInstanceReferenceOperation:
                return KeyOf(p.Property.OriginalDefinition);
            case IFieldReferenceOperation f2 when f2.Instance is not null && Key(f2.Instance, frame, depth + 1) is { } ik:
                return ik + "." + f2.Field.Name;
            case IParameterReferenceOperation pr:
                return "p:" + pr.Parameter.Name;
            case IObjectCreationOperation:
                return "new@" + op.Syntax.SpanStart.ToString(CultureInfo.InvariantCulture);
            case ILocalReferenceOperation l when depth < 3:
            {
                var body = op.Syntax.Ancestors().FirstOrDefault(a => a is Microsoft.CodeAnalysis.CSharp.Syntax.BaseMethodDeclarationSyntax or Microsoft.CodeAnalysis.CSharp.Syntax.LocalFunctionStatementSyntax or Microsoft.CodeAnalysis.CSharp.Syntax.AnonymousFunctionExpressionSyntax);
                var root = op;
                while (root.Parent is not null)
                    root = root.Parent;
                IOperation? only = null;
                int count = 0;
                foreach (var d in root.DescendantsAndSelf())
                {
                    IOperation? v = d switch
                    {
                        ISimpleAssignmentOperation { Target: ILocalReferenceOperation t } a when SymbolEqualityComparer.Default.Equals(t.Local, l.Local) => a.Value,
                        IVariableDeclaratorOperation vd when SymbolEqualityComparer.Default.Equals(vd.Symbol, l.Local) => vd.Initializer?.Value,
                        _ => null,
                    };
                    if (v is null)
                        continue;
                    only = v;
                    count++;
                }
                return count == 1 && only is not null && body is not null ? Key(only, frame, depth + 1) : null;
            }
        }
        return null;
    }

    // Keys of types, fields and properties are asked at every request, free and dev_id use: made once per symbol
    // of this compilation (a dictionary: nearly every key is asked first and made, which a weak table does slowly).
    private readonly ConcurrentDictionary<ISymbol, string> symbolKeys = new(SymbolEqualityComparer.Default);

    /// <summary><c>this:</c> and a type's full metadata name, or <c>f:</c> and a field's or property's.</summary>
    private string KeyOf(ISymbol symbol)
    {
        if (symbolKeys.TryGetValue(symbol, out var known))
            return known;
        var key = symbol is ITypeSymbol
            ? "this:" + QualifiedName(symbol)
            : "f:" + (symbol.ContainingType is { } type ? QualifiedName(type) + "." + symbol.MetadataName : symbol.MetadataName);
        return symbolKeys.GetOrAdd(symbol, key);
    }

    // A type's name is shared by the keys of all its fields: made once per type.
    private readonly ConcurrentDictionary<ISymbol, string> typeNames = new(SymbolEqualityComparer.Default);

    /// <summary>Namespaces, types and the member by metadata name (arity kept): unique, and cheaper than display formatting.</summary>
    private string QualifiedName(ISymbol type)
        => typeNames.TryGetValue(type, out var known) ? known : typeNames.GetOrAdd(type, QualifiedName(new StringBuilder(), type).ToString());

    private static StringBuilder QualifiedName(StringBuilder sb, ISymbol s)
    {
        if (s.ContainingSymbol is { } outer && outer is not INamespaceSymbol { IsGlobalNamespace: true } && outer is not IModuleSymbol)
            QualifiedName(sb, outer).Append('.');
        return sb.Append(s.MetadataName);
    }
}
