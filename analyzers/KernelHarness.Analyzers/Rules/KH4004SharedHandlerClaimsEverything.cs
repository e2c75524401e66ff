using System.Collections.Generic;
using System.Linq;
using KernelHarness.Analyzers.ContextEngine;
using KernelHarness.Analyzers.Summaries;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.Diagnostics;
using Microsoft.CodeAnalysis.Operations;

namespace KernelHarness.Analyzers.Rules;

/// <summary>
/// KH4004: a hard-IRQ handler (the <c>handler</c>, not the <c>thread_fn</c>) registered with IRQF_SHARED
/// whose every return is IRQ_HANDLED and that reads no device state: no use of its dev_id parameter, no
/// member of the object passed as dev_id (<c>this</c> or a field), no helper call on it. Reported at the
/// handler argument of the registration.
/// </summary>
[DiagnosticAnalyzer(LanguageNames.CSharp)]
public sealed class SharedHandlerClaimsEverythingAnalyzer : KernelRuleAnalyzer
{
    private protected override DiagnosticDescriptor Rule => Descriptors.KH4004;

    private protected override void AnalyzeFile(FileContext file)
    {
        var model = file.Model;
        var irqs = IrqRequests.Get(model);
        foreach (var r in irqs.RequestsIn(file.Operations(OperationKind.Invocation)))
        {
            // A null dev_id (KH4001's finding) leaves the handler no device object to read: it is judged all the same.
            if (r.Flags is not ulong f || (f & irqs.Shared) == 0 || r.Handler is null || r.DevKey is null)
                continue;
            var handler = Target(model.Index, r.Handler);
            if (handler is null)
                continue;
            var body = model.Index.BodyOf(handler.OriginalDefinition);
            if (body is null || !AlwaysHandled(body) || ReadsDevice(irqs, body, handler, r))
                continue;
            var name = handler.MethodKind == MethodKind.AnonymousFunction ? "The handler lambda" : handler.Name + "()";
            file.Report(Diagnostic.Create(Descriptors.KH4004, r.Handler.Syntax.GetLocation(), name, Kinds.Where(r.Call.Syntax.GetLocation())));
        }
    }

    /// <summary>The handler a registration passes: written there, or the one delegate a field, property or local holds.</summary>
    private static IMethodSymbol? Target(CompilationIndex index, IOperation op)
    {
        op = Eval.Unwrap(op);
        if (op is IDelegateCreationOperation d)
            op = Eval.Unwrap(d.Target);
        return op switch
        {
            IMethodReferenceOperation m => m.Method,
            IAnonymousFunctionOperation a => a.Symbol,
            IFieldReferenceOperation or IPropertyReferenceOperation or ILocalReferenceOperation
                => index.DelegateTargets(op) is { Count: 1 } stored ? stored[0] : null,
            _ => null,
        };
    }

    /// <summary>Every return (and an expression body) yields the constant IRQ_HANDLED.</summary>
    private static bool AlwaysHandled(IOperation body)
    {
        bool any = false;
        foreach (var op in Eval.OwnOperations(body))
        {
            if (op is not IReturnOperation ret)
                continue;
            any = true;
            if (ret.ReturnedValue is null || !ret.ReturnedValue.ConstantValue.HasValue || ret.ReturnedValue.ConstantValue.Value is null
                || System.Convert.ToInt64(ret.ReturnedValue.ConstantValue.Value, System.Globalization.CultureInfo.InvariantCulture) != 1)
                return false;
        }
        return any;
    }

    private static bool ReadsDevice(IrqRequests irqs, IOperation body, IMethodSymbol handler, IrqRequest r)
    {
        var devParam = handler.Parameters.Length >= 2 ? handler.Parameters[1] : null;
        bool devIsThis = r.DevKey!.StartsWith("this:", System.StringComparison.Ordinal);
        foreach (var op in Eval.OwnOperations(body))
        {
            switch (op)
            {
                case IParameterReferenceOperation p when SymbolEqualityComparer.Default.Equals(p.Parameter, devParam):
                    return true;
                case IInstanceReferenceOperation when devIsThis:
                    return true;
                case IMemberReferenceOperation m when devIsThis && m.Instance is null && !m.Member.IsStatic:
                    return true;
                case IInvocationOperation i when devIsThis && i.Instance is null or IInstanceReferenceOperation && !i.TargetMethod.IsStatic:
                    return true;
                case IFieldReferenceOperation or IPropertyReferenceOperation when irqs.Key(op, handler) is { } key && LockRef.IsSameOrUnder(key, r.DevKey):
                    return true;
                case ILocalReferenceOperation or IParameterReferenceOperation when irqs.Key(op, handler) is { } lk && lk == r.DevKey && !lk.StartsWith("p:", System.StringComparison.Ordinal):
                    return true;
            }
        }
        return false;
    }
}
