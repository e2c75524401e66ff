using System.Collections.Immutable;
using KernelHarness.Analyzers.Summaries;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.Diagnostics;
using Microsoft.CodeAnalysis.Operations;

namespace KernelHarness.Analyzers.Rules;

/// <summary>
/// KH6001: <c>task.mm == init_mm</c> (or <c>!=</c>) to tell a kernel thread from a user task. No task has
/// <c>mm == &amp;init_mm</c>; a kernel thread has <c>mm == NULL</c>. The fix compares with <c>null</c>.
/// </summary>
[DiagnosticAnalyzer(LanguageNames.CSharp)]
public sealed class InitMmUserContextTestAnalyzer : KernelRuleAnalyzer
{
    private protected override DiagnosticDescriptor Rule => Descriptors.KH6001;

    private protected override void AnalyzeFile(FileContext file)
    {
        var model = file.Model;
        var k = model.Symbols;
        foreach (var site in file.Operations(OperationKind.Binary))
        {
            var b = (IBinaryOperation)site.Operation;
            if (b.OperatorKind is not (BinaryOperatorKind.Equals or BinaryOperatorKind.NotEquals))
                continue;
            IOperation? mm = null, initMm = null;
            if (IsInitMm(k, b.RightOperand) && IsTaskMm(b.LeftOperand)) { mm = b.LeftOperand; initMm = b.RightOperand; }
            else if (IsInitMm(k, b.LeftOperand) && IsTaskMm(b.RightOperand)) { mm = b.RightOperand; initMm = b.LeftOperand; }
            if (mm is null || initMm is null)
                continue;
            var test = Eval.Unwrap(mm).Syntax.ToString() + (b.OperatorKind == BinaryOperatorKind.Equals ? " == null" : " != null");
            var props = ImmutableDictionary<string, string?>.Empty.Add("InitMmStart", Eval.Unwrap(initMm).Syntax.SpanStart.ToString(System.Globalization.CultureInfo.InvariantCulture));
            file.Report(Diagnostic.Create(Descriptors.KH6001, b.Syntax.GetLocation(), props, b.Syntax.ToString(), test));
        }
    }

    private static bool IsInitMm(KernelSymbols k, IOperation op) => Eval.Unwrap(op) switch
    {
        IPropertyReferenceOperation p => k.RoleOf(p.Property) == Role.InitMm,
        IFieldReferenceOperation f => k.RoleOf(f.Field) == Role.InitMm,
        _ => false,
    };

    /// <summary>The <c>mm</c> of a task (<c>current.mm</c>, <c>tsk.mm</c>), or a local that only ever holds one (<c>var mm = current.mm;</c>).</summary>
    private static bool IsTaskMm(IOperation op) => Eval.Unwrap(op) switch
    {
        ILocalReferenceOperation local => Eval.SingleValue(local) is { } value && IsTaskMmRead(Eval.Unwrap(value)),
        var read => IsTaskMmRead(read),
    };

    private static bool IsTaskMmRead(IOperation op) => op switch
    {
        IFieldReferenceOperation { Field.Name: "mm" } f => f.Field.ContainingType?.Name == "task_struct",
        IPropertyReferenceOperation { Property.Name: "mm" } p => p.Property.ContainingType?.Name == "task_struct",
        _ => false,
    };
}
