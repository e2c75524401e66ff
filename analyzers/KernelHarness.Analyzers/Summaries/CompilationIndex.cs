using System.Collections.Generic;
using System.Linq;
using System.Threading;
using KernelHarness.Analyzers.ContextEngine;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp.Syntax;
using Microsoft.CodeAnalysis.Operations;

namespace KernelHarness.Analyzers.Summaries;

/// <summary>Where an entry context comes from: a registration (request_irq handler, tasklet, work…) or an attribute.</summary>
internal sealed record ContextOrigin(Ctx Context, string Description, Location Location, bool IsRegistration);

/// <summary>A call in the compilation: who calls, and the invocation.</summary>
internal sealed record CallEdge(IMethodSymbol Caller, IInvocationOperation Call);

/// <summary>
/// One walk over every body of the compilation, done once and lazily: the bodies of methods, lambdas and
/// local functions; who calls whom; which methods are registered as callbacks (and in which context),
/// following method groups, lambdas and delegates stored in fields or locals; which methods escape as
/// delegates to unknown callers.
/// </summary>
internal sealed class CompilationIndex
{
    private readonly Dictionary<IMethodSymbol, IOperation> bodies = new(SymbolEqualityComparer.Default);
    private readonly Dictionary<IMethodSymbol, IOperation> rootOf = new(SymbolEqualityComparer.Default);
    private readonly Dictionary<ISymbol, List<IMethodSymbol>> nested = new(SymbolEqualityComparer.Default);
    private readonly Dictionary<IMethodSymbol, List<CallEdge>> callers = new(SymbolEqualityComparer.Default);
    private readonly Dictionary<IMethodSymbol, List<ContextOrigin>> registrations = new(SymbolEqualityComparer.Default);
    private readonly HashSet<IMethodSymbol> escapes = new(SymbolEqualityComparer.Default);
    private readonly HashSet<IMethodSymbol> forwarders = new(SymbolEqualityComparer.Default);
    private readonly Dictionary<ISymbol, List<IOperation>> delegateStores = new(SymbolEqualityComparer.Default);
    private readonly List<(IOperation Arg, CallbackSpec Spec, IInvocationOperation Call, string Api)> pendingRegistrations = new();
    private readonly KernelSymbols k;

    public CompilationIndex(KernelSymbols k, SemanticModels models, CancellationToken ct)
    {
        this.k = k;
        foreach (var tree in k.Compilation.SyntaxTrees)
        {
            ct.ThrowIfCancellationRequested();
            var model = models.Get(tree);
            foreach (var node in tree.GetRoot(ct).DescendantNodes(n => n is not (BaseMethodDeclarationSyntax or AccessorDeclarationSyntax or ArrowExpressionClauseSyntax or EqualsValueClauseSyntax or LocalFunctionStatementSyntax)))
            {
                IOperation? op = null;
                ISymbol? owner = null;
                switch (node)
                {
                    case BaseMethodDeclarationSyntax m when m.Body is not null || m.ExpressionBody is not null:
                        op = model.GetOperation(m, ct);
                        owner = model.GetDeclaredSymbol(m, ct);
                        break;
                    case AccessorDeclarationSyntax a when a.Body is not null || a.ExpressionBody is not null:
                        op = model.GetOperation(a, ct);
                        owner = model.GetDeclaredSymbol(a, ct);
                        break;
                    case ArrowExpressionClauseSyntax arrow when arrow.Parent is PropertyDeclarationSyntax or IndexerDeclarationSyntax:
                        op = model.GetOperation(arrow, ct);
                        owner = (model.GetDeclaredSymbol(arrow.Parent!, ct) as IPropertySymbol)?.GetMethod;
                        break;
                    case EqualsValueClauseSyntax eq when eq.Parent is VariableDeclaratorSyntax { Parent.Parent: FieldDeclarationSyntax } v:
                        op = model.GetOperation(eq, ct);
                        owner = model.GetDeclaredSymbol(v, ct);
                        break;
                    case EqualsValueClauseSyntax eq when eq.Parent is PropertyDeclarationSyntax p:
                        op = model.GetOperation(eq, ct);
                        owner = model.GetDeclaredSymbol(p, ct);
                        break;
                }
                if (op is null || owner is null)
                    continue;
                if (owner is IMethodSymbol ms)
                {
                    bodies[ms] = op;
                    rootOf[ms] = op;
                }
                Walk(op, owner, owner, op);
            }
        }
        ResolveRegistrations();
    }

    public IOperation? BodyOf(IMethodSymbol m) => bodies.TryGetValue(m, out var b) ? b : null;

    /// <summary>The operation whose control-flow graph contains <paramref name="m"/> (itself for a member).</summary>
    public IOperation? RootOf(IMethodSymbol m) => rootOf.TryGetValue(m, out var r) ? r : null;

    public IReadOnlyList<IMethodSymbol> NestedFunctions(ISymbol owner) => nested.TryGetValue(owner, out var l) ? l : (IReadOnlyList<IMethodSymbol>)System.Array.Empty<IMethodSymbol>();

    public IReadOnlyList<CallEdge> CallersOf(IMethodSymbol m) => callers.TryGetValue(m, out var l) ? l : (IReadOnlyList<CallEdge>)System.Array.Empty<CallEdge>();

    public IReadOnlyList<ContextOrigin> RegistrationsOf(IMethodSymbol m) => registrations.TryGetValue(m, out var l) ? l : (IReadOnlyList<ContextOrigin>)System.Array.Empty<ContextOrigin>();

    public bool IsRegistered(IMethodSymbol m) => registrations.ContainsKey(m);

    public bool Escapes(IMethodSymbol m) => escapes.Contains(m);

    /// <summary>A registered lambda that only forwards to a method (the method got the registration).</summary>
    public bool IsForwarder(IMethodSymbol m) => forwarders.Contains(m);

    private void Walk(IOperation op, ISymbol owner, ISymbol top, IOperation root)
    {
        switch (op)
        {
            case IAnonymousFunctionOperation lambda:
                AddNested(top, lambda.Symbol, lambda, root);
                foreach (var c in lambda.Body.ChildOperations)
                    Walk(c, lambda.Symbol, top, root);
                return;
            case ILocalFunctionOperation lf:
                AddNested(top, lf.Symbol, lf, root);
                foreach (var c in lf.ChildOperations)
                    Walk(c, lf.Symbol, top, root);
                return;
            case IInvocationOperation inv when owner is IMethodSymbol caller:
                var target = inv.TargetMethod.OriginalDefinition;
                if (!callers.TryGetValue(target, out var list))
                    callers[target] = list = new List<CallEdge>();
                list.Add(new CallEdge(caller, inv));
                var info = k.Info(inv.TargetMethod);
                foreach (var cb in info.Callbacks)
                {
                    var arg = inv.Arguments.FirstOrDefault(a => a.Parameter?.Name == cb.Parameter);
                    if (arg is not null)
                        pendingRegistrations.Add((arg.Value, cb, inv, k.DisplayName(inv.TargetMethod)));
                }
                break;
            case IDelegateCreationOperation d:
                var dest = Strip(d.Parent);
                ISymbol? store = dest switch
                {
                    ISimpleAssignmentOperation a => SymbolOf(a.Target),
                    IFieldInitializerOperation fi => fi.InitializedFields.FirstOrDefault(),
                    IVariableInitializerOperation vi when vi.Parent is IVariableDeclaratorOperation vd => vd.Symbol,
                    _ => null,
                };
                if (store is not null)
                {
                    if (!delegateStores.TryGetValue(store, out var stores))
                        delegateStores[store] = stores = new List<IOperation>();
                    stores.Add(d);
                }
                else if (!(dest is IArgumentOperation arg2 && arg2.Parent is IInvocationOperation call2 && k.Info(call2.TargetMethod).Callbacks.Any(c => c.Parameter == arg2.Parameter?.Name))
                         && d.Target is IMethodReferenceOperation mr)
                {
                    escapes.Add(mr.Method.OriginalDefinition);
                }
                break;
        }
        foreach (var c in op.ChildOperations)
            Walk(c, owner, top, root);
    }

    private static IOperation? Strip(IOperation? op)
    {
        while (op is IConversionOperation or IParenthesizedOperation)
            op = op.Parent;
        return op;
    }

    private static ISymbol? SymbolOf(IOperation op) => op switch
    {
        IFieldReferenceOperation f => f.Field,
        IPropertyReferenceOperation p => p.Property,
        ILocalReferenceOperation l => l.Local,
        _ => null,
    };

    private void AddNested(ISymbol top, IMethodSymbol fn, IOperation body, IOperation root)
    {
        if (!nested.TryGetValue(top, out var l))
            nested[top] = l = new List<IMethodSymbol>();
        l.Add(fn);
        bodies[fn] = body;
        rootOf[fn] = root;
    }

    private void ResolveRegistrations()
    {
        foreach (var (arg, spec, call, api) in pendingRegistrations)
        {
            foreach (var target in Targets(arg, 0))
            {
                if (!registrations.TryGetValue(target, out var l))
                    registrations[target] = l = new List<ContextOrigin>();
                var param = spec.Parameter;
                var what = param == "handler" ? "the handler" : param == "thread_fn" ? "the thread_fn" : "the callback";
                var ctxWords = spec.Context switch
                {
                    Ctx.HardIrq => "hard-IRQ context",
                    Ctx.SoftIrq => "softirq context",
                    _ => "process context",
                };
                var name = target.MethodKind == MethodKind.AnonymousFunction ? "the lambda" : target.Name + "()";
                l.Add(new ContextOrigin(spec.Context,
                    $"{name} runs in {ctxWords} ({what} passed to {api}() at {Kinds.Where(call.Syntax.GetLocation())})",
                    call.Syntax.GetLocation(), true));
            }
        }
    }

    /// <summary>The methods a delegate-valued expression may denote.</summary>
    private IEnumerable<IMethodSymbol> Targets(IOperation? op, int depth)
    {
        if (op is null || depth > 4)
            yield break;
        switch (op)
        {
            case IConversionOperation c:
                foreach (var t in Targets(c.Operand, depth)) yield return t;
                break;
            case IDelegateCreationOperation d:
                foreach (var t in Targets(d.Target, depth)) yield return t;
                break;
            case IMethodReferenceOperation m:
                yield return m.Method.OriginalDefinition;
                break;
            case IAnonymousFunctionOperation a:
                var fwd = Forwarded(a);
                if (fwd is not null)
                    forwarders.Add(a.Symbol);
                yield return fwd ?? a.Symbol;
                break;
            case IFieldReferenceOperation or IPropertyReferenceOperation or ILocalReferenceOperation:
                var sym = SymbolOf(op);
                if (sym is not null && delegateStores.TryGetValue(sym, out var stores))
                    foreach (var s in stores)
                        foreach (var t in Targets(s, depth + 1)) yield return t;
                break;
        }
    }

    /// <summary>The source method a lambda only forwards to (<c>t =&gt; rx_poll()</c>): it inherits the registration.</summary>
    private IMethodSymbol? Forwarded(IAnonymousFunctionOperation a)
    {
        var stmts = a.Body.Operations;
        if (stmts.Length is < 1 or > 2)
            return null;
        IOperation? first = stmts[0] switch
        {
            IExpressionStatementOperation e => e.Operation,
            IReturnOperation r => r.ReturnedValue,
            _ => null,
        };
        if (stmts.Length == 2 && !(stmts[1] is IReturnOperation { ReturnedValue: null } || stmts[1] is IReturnOperation { IsImplicit: true }))
            return null;
        while (first is IConversionOperation c)
            first = c.Operand;
        if (first is IInvocationOperation inv && inv.TargetMethod.DeclaringSyntaxReferences.Length > 0 && inv.TargetMethod.MethodKind == MethodKind.Ordinary)
            return inv.TargetMethod.OriginalDefinition;
        return null;
    }
}
