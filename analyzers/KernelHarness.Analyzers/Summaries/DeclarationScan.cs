using System.Collections.Generic;
using System.Linq;
using KernelHarness.Analyzers.ContextEngine;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.Operations;

namespace KernelHarness.Analyzers.Summaries;

/// <summary>
/// What one declaration with code (a method, an accessor, an initializer, an attribute) contributes to the
/// <see cref="CompilationIndex"/>: its bodies (the member's, its lambdas' and local functions'), the calls
/// they make, the delegates they create and store, the callbacks they register, and its operations by
/// kind. Made once, on first need.
/// </summary>
internal sealed class DeclarationScan
{
    private readonly KernelSymbols k;

    public DeclarationScan(KernelSymbols k, SyntaxNode declaration)
    {
        this.k = k;
        Declaration = declaration;
    }

    /// <summary>The declaration scanned.</summary>
    public SyntaxNode Declaration { get; }

    public List<IMethodSymbol> Methods { get; } = new();
    public Dictionary<IMethodSymbol, IOperation> Bodies { get; } = new(SymbolEqualityComparer.Default);
    public Dictionary<IMethodSymbol, IOperation> Roots { get; } = new(SymbolEqualityComparer.Default);
    public Dictionary<IMethodSymbol, List<CallEdge>> Callers { get; } = new(SymbolEqualityComparer.Default);
    public Dictionary<ISymbol, List<IOperation>> DelegateStores { get; } = new(SymbolEqualityComparer.Default);
    public HashSet<IMethodSymbol> Escapes { get; } = new(SymbolEqualityComparer.Default);
    public List<(IOperation Arg, CallbackSpec Spec, IInvocationOperation Call, string Api)> PendingRegistrations { get; } = new();
    public Dictionary<OperationKind, List<OperationSite>> ByKind { get; } = new();

    /// <summary>The kinds of operation some rule looks up by kind (KH9001 reads most member references).</summary>
    private static readonly HashSet<OperationKind> KindsRead = new()
    {
        OperationKind.Invocation, OperationKind.Binary, OperationKind.SimpleAssignment, OperationKind.VariableInitializer,
        OperationKind.FieldInitializer, OperationKind.PropertyInitializer, OperationKind.Argument,
        OperationKind.ObjectCreation, OperationKind.PropertyReference, OperationKind.FieldReference, OperationKind.EventReference,
        OperationKind.MethodReference, OperationKind.TypeOf, OperationKind.Conversion, OperationKind.VariableDeclarator,
        OperationKind.Lock, OperationKind.DeclarationPattern, OperationKind.TypePattern, OperationKind.IsType, OperationKind.Unary,
        OperationKind.DefaultValue, OperationKind.ArrayCreation,
    };

    public void AddMethod(IMethodSymbol m, IOperation body, IOperation root)
    {
        if (!Bodies.ContainsKey(m))
            Methods.Add(m);
        Bodies[m] = body;
        Roots[m] = root;
    }

    /// <summary>Records <paramref name="op"/> and its descendants: <paramref name="owner"/> is the function whose body
    /// holds it (a lambda's own symbol inside a lambda), <paramref name="top"/> the member whose declaration
    /// holds it all, <paramref name="root"/> the operation whose control-flow graph contains it.</summary>
    public void Walk(IOperation op, ISymbol owner, ISymbol top, IOperation root)
    {
        if (KindsRead.Contains(op.Kind))
        {
            if (!ByKind.TryGetValue(op.Kind, out var sites))
                ByKind[op.Kind] = sites = new List<OperationSite>();
            sites.Add(new OperationSite(op, top));
        }
        switch (op)
        {
            case IAnonymousFunctionOperation lambda:
                AddMethod(lambda.Symbol, lambda, root);
                foreach (var c in lambda.Body.ChildOperations)
                    Walk(c, lambda.Symbol, top, root);
                return;
            case ILocalFunctionOperation lf:
                AddMethod(lf.Symbol, lf, root);
                foreach (var c in lf.ChildOperations)
                    Walk(c, lf.Symbol, top, root);
                return;
            case IInvocationOperation inv when owner is IMethodSymbol caller:
                var target = inv.TargetMethod.OriginalDefinition;
                if (!Callers.TryGetValue(target, out var list))
                    Callers[target] = list = new List<CallEdge>();
                list.Add(new CallEdge(caller, inv));
                var info = k.Info(inv.TargetMethod);
                foreach (var cb in info.Callbacks)
                {
                    var arg = inv.Arguments.FirstOrDefault(a => a.Parameter?.Name == cb.Parameter);
                    if (arg is not null)
                        PendingRegistrations.Add((arg.Value, cb, inv, k.DisplayName(inv.TargetMethod)));
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
                    if (!DelegateStores.TryGetValue(store, out var stores))
                        DelegateStores[store] = stores = new List<IOperation>();
                    stores.Add(d);
                }
                else if (!(dest is IArgumentOperation arg2 && arg2.Parent is IInvocationOperation call2 && k.Info(call2.TargetMethod).Callbacks.Any(c => c.Parameter == arg2.Parameter?.Name))
                         && d.Target is IMethodReferenceOperation mr)
                {
                    Escapes.Add(mr.Method.OriginalDefinition);
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

    public static ISymbol? SymbolOf(IOperation op) => op switch
    {
        IFieldReferenceOperation f => f.Field,
        IPropertyReferenceOperation p => p.Property,
        ILocalReferenceOperation l => l.Local,
        _ => null,
    };
}
