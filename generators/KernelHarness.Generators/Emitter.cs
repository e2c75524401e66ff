using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using System.Threading;

namespace KernelHarness.Generators;

/// <summary>Writes the generated files of pipeline A from the models.</summary>
internal static class Emitter
{
    private const string KernelFunctionId = "global::KernelHarness.Runtime.KernelFunctionId";
    private const string MachineType = "global::KernelHarness.Runtime.Machine";
    private const string KptrType = "global::KernelHarness.kptr";
    private const string PageType = "global::KernelHarness.page";
    private const string MethodImpl = "global::System.Runtime.CompilerServices.MethodImpl";
    private const string AggressiveInlining =
        "[global::System.Runtime.CompilerServices.MethodImpl(global::System.Runtime.CompilerServices.MethodImplOptions.AggressiveInlining)]";

    /// <summary>Attributes of a description member that the facade does not copy (it carries <c>[KernelFunction]</c> instead).</summary>
    private static readonly string[] NotOnFacade =
    {
        "global::KernelHarness.Annotations.LinuxAttribute",
        "global::KernelHarness.Annotations.BootHookAttribute",
    };

    // ---- 1. The subsystem interface ----

    public static string Interface(DescriptionModel description, CancellationToken cancellationToken)
    {
        var writer = new SourceWriter().WriteFileHeader(Naming.SubsystemsNamespace);
        WriteDoc(writer, description.DocComment, description, "KernelHarness.Subsystems." + description.InterfaceName);
        var subsystem = "[global::KernelHarness.Annotations.KernelSubsystem(" + Naming.Literal(description.SubsystemName) + ", "
            + Naming.Literal(description.InterfaceName)
            + ", Assignable = " + (description.Assignable ? "true" : "false")
            + ", BootOrder = " + description.BootOrder.ToString(CultureInfo.InvariantCulture)
            + (description.LinuxFile is null ? string.Empty : ", Linux = " + Naming.Literal(description.LinuxFile))
            + ")]";
        writer.WriteLine(subsystem);
        writer.WriteLine(Naming.GeneratedCodeAttribute);
        writer.OpenBlock("public partial interface " + Naming.Escape(description.InterfaceName));
        var first = true;
        foreach (var member in description.Members)
        {
            cancellationToken.ThrowIfCancellationRequested();
            if (!first)
            {
                writer.WriteLine();
            }

            first = false;
            WriteDoc(writer, member.DocComment, description, "KernelHarness.Subsystems." + description.InterfaceName);
            foreach (var attribute in member.Attributes)
            {
                writer.WriteLine("[" + attribute + "]");
            }

            if (member.Kind == MemberKind.Property)
            {
                var accessors = (member.HasGetter ? "get; " : string.Empty) + (member.HasSetter ? "set; " : string.Empty);
                writer.WriteLine(ReturnPrefix(member) + member.ReturnType + " " + Naming.Escape(member.Name) + " { " + accessors + "}");
                continue;
            }

            var signature = ReturnPrefix(member) + member.ReturnType + " " + Naming.Escape(member.Name) + TypeParameterList(member) + "(" + ParameterList(member) + ")";
            if (member.IsBootHook && member.ReturnsVoid)
            {
                writer.WriteLine(signature);
                WriteConstraints(writer, member);
                writer.OpenBlock().CloseBlock();
            }
            else
            {
                var constraints = member.TypeParameters.Where(t => t.ConstraintClause.Length != 0).ToList();
                if (constraints.Count == 0)
                {
                    writer.WriteLine(signature + ";");
                }
                else
                {
                    writer.WriteLine(signature);
                    for (var i = 0; i < constraints.Count; i++)
                    {
                        writer.WriteLine("    " + constraints[i].ConstraintClause + (i == constraints.Count - 1 ? ";" : string.Empty));
                    }
                }
            }
        }

        writer.CloseBlock();
        return writer.ToString();
    }

    // ---- 2. The Kernel facade ----

    public static string Facade(FacadeModel facade, CancellationToken cancellationToken)
    {
        var description = facade.Description;
        var writer = new SourceWriter().WriteFileHeader("KernelHarness");
        writer.OpenBlock("public static partial class Kernel");
        var first = true;
        for (var i = 0; i < description.Members.Count; i++)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var member = description.Members[i];
            var id = facade.FunctionIds[i];
            if (member.IsBootHook)
            {
                continue;
            }

            if (!first)
            {
                writer.WriteLine();
            }

            first = false;
            WriteDoc(writer, member.DocComment, description, "KernelHarness.Kernel");
            writer.WriteLine("[global::KernelHarness.Annotations.KernelFunction(" + Naming.Literal(description.SubsystemName) + ", "
                + Naming.Literal(member.LinuxFunction) + ", " + Naming.Literal(member.LinuxFile) + ")]");
            foreach (var attribute in member.Attributes)
            {
                if (!NotOnFacade.Any(n => attribute == n || attribute.StartsWith(n + "(", System.StringComparison.Ordinal)))
                {
                    writer.WriteLine("[" + attribute + "]");
                }
            }

            writer.WriteLine(Naming.GeneratedCodeAttribute);
            if (member.Kind == MemberKind.Property)
            {
                WriteFacadeProperty(writer, description, member, id);
            }
            else
            {
                WriteFacadeMethod(writer, description, member, id);
            }
        }

        writer.CloseBlock();
        return writer.ToString();
    }

    private static void WriteFacadeProperty(SourceWriter writer, DescriptionModel description, MemberModel member, string id)
    {
        var name = Naming.Escape(member.Name);
        writer.OpenBlock("public static " + ReturnPrefix(member) + member.ReturnType + " " + name);
        var byRef = member.ReturnsByRef ? "ref " : string.Empty;
        if (!description.IsDispatched)
        {
            var target = description.DescriptionType + "." + name;
            if (member.HasGetter)
            {
                writer.WriteLine(AggressiveInlining);
                writer.WriteLine("get => " + byRef + target + ";");
            }

            if (member.HasSetter)
            {
                writer.WriteLine(AggressiveInlining);
                writer.WriteLine("set => " + target + " = value;");
            }
        }
        else
        {
            if (member.HasGetter)
            {
                writer.OpenBlock("get");
                WriteEnter(writer, member, id);
                writer.WriteLine("return " + byRef + "__m." + description.FieldName + "." + name + ";");
                writer.CloseBlock();
            }

            if (member.HasSetter)
            {
                writer.OpenBlock("set");
                WriteEnter(writer, member, id);
                writer.WriteLine("__m." + description.FieldName + "." + name + " = value;");
                writer.CloseBlock();
            }
        }

        writer.CloseBlock();
    }

    private static void WriteFacadeMethod(SourceWriter writer, DescriptionModel description, MemberModel member, string id)
    {
        var name = Naming.Escape(member.Name);
        var call = name + TypeArgumentList(member) + "(" + ArgumentList(member) + ")";
        if (!description.IsDispatched)
        {
            if (!member.Attributes.Any(a => a.StartsWith(MethodImpl, System.StringComparison.Ordinal)))
            {
                writer.WriteLine(AggressiveInlining);
            }

            writer.WriteLine("public static " + ReturnPrefix(member) + member.ReturnType + " " + name + TypeParameterList(member) + "(" + ParameterList(member) + ")");
            WriteConstraints(writer, member);
            writer.WriteLine("    => " + (member.ReturnsByRef ? "ref " : string.Empty) + description.DescriptionType + "." + call + ";");
            return;
        }

        bool callSite = TakesCallSite(member);
        writer.WriteLine("public static " + ReturnPrefix(member) + member.ReturnType + " " + name + TypeParameterList(member) + "(" + ParameterList(member)
            + (callSite ? (member.Parameters.Count > 0 ? ", " : string.Empty) + CallSiteParameters : string.Empty) + ")");
        WriteConstraints(writer, member);
        writer.OpenBlock();
        WriteEnter(writer, member, id);
        if (callSite)
        {
            // Where a lock or atomic context was taken: reports say "taken at Driver.cs:41" without a stack walk.
            writer.WriteLine("__m.SetCallSite(__callerFile, __callerLine);");
        }

        var idExpression = KernelFunctionId + "." + id;
        var earlyReturn = member.ReturnsVoid ? "return;" : "return default!;";
        var post = new List<string>();
        var parameters = member.Parameters.ToDictionary(p => p.Name.TrimStart('@'), p => p);

        if (member.Frees is { } frees && parameters.TryGetValue(frees.Pointer, out var pointer))
        {
            var order = frees.Order is null ? "0" : "(int)(" + Naming.Escape(frees.Order) + ")";
            var cache = frees.Cache is null ? "null" : Naming.Escape(frees.Cache);
            switch (BareType(pointer.Type))
            {
                case KptrType:
                    writer.WriteLine("if (!__m.Checks.OnFree(" + idExpression + ", " + frees.FamilyExpression + ", " + pointer.Name + ", " + cache + ")) " + earlyReturn);
                    break;
                case PageType:
                    writer.WriteLine("if (!__m.Checks.OnFreePages(" + idExpression + ", " + pointer.Name + ", " + order + ")) " + earlyReturn);
                    break;
                case "ulong":
                    writer.WriteLine("if (!__m.Checks.OnFreePagesAddr(" + idExpression + ", " + pointer.Name + ", " + order + ")) " + earlyReturn);
                    break;
            }
        }

        if (member.Allocates is { } allocates && !member.ReturnsByRef)
        {
            var gfp = allocates.Gfp is null ? "global::KernelHarness.Kernel.GFP_KERNEL" : Naming.Escape(allocates.Gfp);
            var order = allocates.Order is null ? "0" : "(int)(" + Naming.Escape(allocates.Order) + ")";
            var size = allocates.Size is null
                ? "0UL"
                : allocates.Count is null
                    ? "(ulong)(" + Naming.Escape(allocates.Size) + ")"
                    : "(ulong)(" + Naming.Escape(allocates.Count) + ") * (ulong)(" + Naming.Escape(allocates.Size) + ")";
            switch (BareType(member.ReturnType))
            {
                case KptrType when allocates.Reallocates is not null:
                    var old = Naming.Escape(allocates.Reallocates);
                    writer.WriteLine("if (!__m.Checks.OnReallocating(" + idExpression + ", " + old + ")) " + earlyReturn);
                    post.Add("__m.Checks.OnRealloc(" + idExpression + ", " + old + ", __r, " + size + ", " + gfp + ");");
                    break;
                case KptrType:
                    var cache = allocates.Cache is null ? "null" : Naming.Escape(allocates.Cache);
                    post.Add("__m.Checks.OnAlloc(" + idExpression + ", " + allocates.FamilyExpression + ", __r, " + size + ", " + gfp + ", " + cache + ", "
                        + (allocates.Zeroes ? "true" : "false") + ");");
                    break;
                case PageType:
                    post.Add("__m.Checks.OnAllocPages(" + idExpression + ", __r, " + order + ", " + gfp + ");");
                    break;
                case "ulong":
                    post.Add("__m.Checks.OnAllocPagesAddr(" + idExpression + ", __r, " + order + ", " + gfp + ");");
                    break;
            }
        }

        var target = "__m." + description.FieldName + "." + call;
        if (member.ReturnsVoid)
        {
            writer.WriteLine(target + ";");
            foreach (var line in post)
            {
                writer.WriteLine(line);
            }
        }
        else if (post.Count == 0)
        {
            writer.WriteLine("return " + (member.ReturnsByRef ? "ref " : string.Empty) + target + ";");
        }
        else
        {
            writer.WriteLine("var __r = " + target + ";");
            foreach (var line in post)
            {
                writer.WriteLine(line);
            }

            writer.WriteLine("return __r;");
        }

        writer.CloseBlock();
    }

    private const string CallSiteParameters =
        "[global::System.Runtime.CompilerServices.CallerFilePath] string __callerFile = \"\", "
        + "[global::System.Runtime.CompilerServices.CallerLineNumber] int __callerLine = 0";

    /// <summary>Members that take a lock or enter an atomic context record their caller's FILE:LINE.</summary>
    private static bool TakesCallSite(MemberModel member) =>
        !member.Parameters.Any(p => p.IsParams)
        && member.Attributes.Any(a => a.StartsWith("global::KernelHarness.AcquiresAttribute", System.StringComparison.Ordinal)
                                   || a.StartsWith("global::KernelHarness.Annotations.EntersContextAttribute", System.StringComparison.Ordinal));

    private static void WriteEnter(SourceWriter writer, MemberModel member, string id)
    {
        var idExpression = KernelFunctionId + "." + id;
        writer.WriteLine("var __m = " + MachineType + ".Enter(" + idExpression + ");");
        if (member.Sleep.MightSleep)
        {
            writer.WriteLine(member.Sleep.ExceptIn is { } exceptIn
                ? "__m.MightSleep(" + idExpression + ", (global::KernelHarness.KernelContext)" + exceptIn.ToString(CultureInfo.InvariantCulture) + ");"
                : "__m.MightSleep(" + idExpression + ");");
        }

        if (member.Sleep.GfpParameter is { } gfp)
        {
            writer.WriteLine("if (global::KernelHarness.Kernel.gfpflags_allow_blocking(" + Naming.Escape(gfp) + ")) __m.MightSleep(" + idExpression + ");");
        }
    }

    // ---- 3. KernelFunctionId and KernelFunctions ----

    public static string FunctionTable(KernelModel model, CancellationToken cancellationToken)
    {
        var writer = new SourceWriter().WriteFileHeader("KernelHarness.Runtime");
        var functions = new List<(string Id, DescriptionModel Description, MemberModel Member)>();
        foreach (var facade in model.Facades)
        {
            var description = facade.Description;
            if (!description.IsDispatched)
            {
                continue;
            }

            for (var i = 0; i < description.Members.Count; i++)
            {
                if (!description.Members[i].IsBootHook)
                {
                    functions.Add((facade.FunctionIds[i], description, description.Members[i]));
                }
            }
        }

        writer.WriteLine("/// <summary>Every dispatched kernel function of the API description, in the order of <see cref=\"KernelFunctions.All\"/>.</summary>");
        writer.WriteLine(Naming.GeneratedCodeAttribute);
        writer.OpenBlock("public enum KernelFunctionId");
        for (var i = 0; i < functions.Count; i++)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var (id, description, member) = functions[i];
            writer.WriteLine("/// <summary><c>" + Xml(member.LinuxFunction) + "</c> (" + Xml(description.SubsystemName) + ", " + Xml(member.LinuxFile) + ").</summary>");
            writer.WriteLine(id + " = " + i.ToString(CultureInfo.InvariantCulture) + ",");
        }

        writer.CloseBlock();
        writer.WriteLine();
        writer.WriteLine("/// <summary>What the API description says about a dispatched kernel function.</summary>");
        writer.WriteLine("/// <param name=\"Id\">The function's identifier.</param>");
        writer.WriteLine("/// <param name=\"Name\">The C# name on <c>Kernel</c>.</param>");
        writer.WriteLine("/// <param name=\"Subsystem\">The subsystem that owns it.</param>");
        writer.WriteLine("/// <param name=\"LinuxFunction\">The Linux function it mirrors.</param>");
        writer.WriteLine("/// <param name=\"LinuxFile\">The Linux source file of that function.</param>");
        writer.WriteLine("/// <param name=\"MaySleep\">The function may sleep (always, or when its gfp allows blocking).</param>");
        writer.WriteLine("/// <param name=\"GfpParameter\">The <c>gfp_t</c> parameter that decides whether it sleeps, if any.</param>");
        writer.WriteLine(Naming.GeneratedCodeAttribute);
        writer.WriteLine("public sealed record KernelFunctionInfo(global::KernelHarness.Runtime.KernelFunctionId Id, string Name, string Subsystem, string LinuxFunction, string LinuxFile, bool MaySleep, string? GfpParameter);");
        writer.WriteLine();
        writer.WriteLine("/// <summary>The metadata table of every dispatched kernel function, indexed by <see cref=\"KernelFunctionId\"/>.</summary>");
        writer.WriteLine(Naming.GeneratedCodeAttribute);
        writer.OpenBlock("public static class KernelFunctions");
        writer.WriteLine("private static readonly global::KernelHarness.Runtime.KernelFunctionInfo[] all =");
        writer.WriteLine("{");
        foreach (var (id, description, member) in functions)
        {
            writer.WriteLine("    new global::KernelHarness.Runtime.KernelFunctionInfo(" + KernelFunctionId + "." + id + ", "
                + Naming.Literal(member.Name) + ", " + Naming.Literal(description.SubsystemName) + ", " + Naming.Literal(member.LinuxFunction) + ", "
                + Naming.Literal(member.LinuxFile) + ", " + (member.Sleep.MaySleep ? "true" : "false") + ", " + Naming.Literal(member.Sleep.GfpParameter) + "),");
        }

        writer.WriteLine("};");
        writer.WriteLine();
        writer.WriteLine("/// <summary>Every dispatched kernel function; <c>All[(int)id]</c> describes <c>id</c>.</summary>");
        writer.WriteLine("public static global::System.Collections.Generic.IReadOnlyList<global::KernelHarness.Runtime.KernelFunctionInfo> All => all;");
        writer.WriteLine();
        writer.WriteLine("/// <summary>The metadata of one function.</summary>");
        writer.WriteLine("public static global::KernelHarness.Runtime.KernelFunctionInfo Get(" + KernelFunctionId + " id) => all[(int)id];");
        writer.CloseBlock();
        return writer.ToString();
    }

    // ---- 4. Machine's bindings ----

    public static string MachineBindings(KernelModel model, CancellationToken cancellationToken)
    {
        var subsystems = model.Descriptions.Where(d => d.IsDispatched).ToList();
        var writer = new SourceWriter().WriteFileHeader("KernelHarness.Runtime");
        writer.WriteLine("/// <summary>A kernel subsystem of the API description that an implementation can be bound to.</summary>");
        writer.WriteLine("/// <param name=\"Name\">The subsystem's name as assignments spell it.</param>");
        writer.WriteLine("/// <param name=\"InterfaceType\">The interface an implementation implements.</param>");
        writer.WriteLine("/// <param name=\"Assignable\">A student may implement it.</param>");
        writer.WriteLine("/// <param name=\"BootOrder\">Lower values boot first.</param>");
        writer.WriteLine("/// <param name=\"LinuxFile\">The Linux source it mirrors.</param>");
        writer.WriteLine(Naming.GeneratedCodeAttribute);
        writer.WriteLine("public sealed record SubsystemInfo(string Name, global::System.Type InterfaceType, bool Assignable, int BootOrder, string? LinuxFile);");
        writer.WriteLine();
        writer.OpenBlock("partial class Machine");
        foreach (var subsystem in subsystems)
        {
            writer.WriteLine("/// <summary>The bound implementation of the <c>" + Xml(subsystem.SubsystemName) + "</c> subsystem.</summary>");
            writer.WriteLine(Naming.GeneratedCodeAttribute);
            writer.WriteLine("internal global::KernelHarness.Subsystems." + subsystem.InterfaceName + " " + subsystem.FieldName + " = null!;");
            writer.WriteLine();
        }

        writer.WriteLine("/// <summary>Every subsystem an implementation can be bound to, in boot order.</summary>");
        writer.WriteLine(Naming.GeneratedCodeAttribute);
        writer.WriteLine("public static global::System.Collections.Generic.IReadOnlyList<global::KernelHarness.Runtime.SubsystemInfo> Subsystems { get; } = new global::KernelHarness.Runtime.SubsystemInfo[]");
        writer.WriteLine("{");
        foreach (var subsystem in subsystems)
        {
            writer.WriteLine("    new global::KernelHarness.Runtime.SubsystemInfo(" + Naming.Literal(subsystem.SubsystemName) + ", typeof(global::KernelHarness.Subsystems."
                + subsystem.InterfaceName + "), " + (subsystem.Assignable ? "true" : "false") + ", " + subsystem.BootOrder.ToString(CultureInfo.InvariantCulture)
                + ", " + Naming.Literal(subsystem.LinuxFile) + "),");
        }

        writer.WriteLine("};");
        writer.WriteLine();
        writer.WriteLine("/// <summary>Binds every subsystem that has one to its reference implementation.</summary>");
        writer.WriteLine(Naming.GeneratedCodeAttribute);
        writer.OpenBlock("internal void BindReferenceSubsystems()");
        foreach (var subsystem in subsystems)
        {
            if (subsystem.ReferenceType is not null)
            {
                writer.WriteLine("this." + subsystem.FieldName + " = new " + subsystem.ReferenceType + "();");
            }
        }

        writer.CloseBlock();
        writer.WriteLine();
        writer.WriteLine("/// <summary>Calls every subsystem's boot hooks on its bound implementation, in boot order.</summary>");
        writer.WriteLine(Naming.GeneratedCodeAttribute);
        writer.OpenBlock("internal void RunBootHooks()");
        foreach (var subsystem in subsystems)
        {
            cancellationToken.ThrowIfCancellationRequested();
            foreach (var member in subsystem.Members)
            {
                if (member.IsBootHook && member.Kind == MemberKind.Method && member.Parameters.Count == 0 && member.TypeParameters.Count == 0)
                {
                    writer.WriteLine("this." + subsystem.FieldName + "?." + Naming.Escape(member.Name) + "(); // unbound subsystems have nothing to boot");
                }
            }
        }

        writer.CloseBlock();
        writer.WriteLine();
        writer.WriteLine("/// <summary>Binds <paramref name=\"implementation\"/> as the named subsystem.</summary>");
        writer.WriteLine("/// <exception cref=\"global::System.ArgumentException\">The subsystem is unknown, or the implementation does not implement its interface.</exception>");
        writer.WriteLine(Naming.GeneratedCodeAttribute);
        writer.OpenBlock("public void Bind(string subsystem, object implementation)");
        writer.OpenBlock("if (implementation is null)");
        writer.WriteLine("throw new global::System.ArgumentNullException(nameof(implementation));");
        writer.CloseBlock();
        writer.WriteLine();
        writer.OpenBlock("switch (subsystem)");
        foreach (var subsystem in subsystems)
        {
            var interfaceType = "global::KernelHarness.Subsystems." + subsystem.InterfaceName;
            writer.WriteLine("case " + Naming.Literal(subsystem.SubsystemName) + ":");
            writer.WriteLine("    this." + subsystem.FieldName + " = implementation as " + interfaceType);
            writer.WriteLine("        ?? throw new global::System.ArgumentException(" + Naming.Literal("The " + subsystem.SubsystemName + " subsystem needs an implementation of KernelHarness.Subsystems." + subsystem.InterfaceName + ", and ")
                + " + implementation.GetType().FullName + \" does not implement it.\", nameof(implementation));");
            writer.WriteLine("    return;");
        }

        writer.WriteLine("default:");
        writer.WriteLine("    throw new global::System.ArgumentException(\"No subsystem is named '\" + subsystem + \"'.\", nameof(subsystem));");
        writer.CloseBlock();
        writer.CloseBlock();
        writer.CloseBlock();
        return writer.ToString();
    }

    // ---- Shared pieces ----

    private static string ReturnPrefix(MemberModel member) => member.ReturnsByRef ? member.ReturnRefKind + " " : string.Empty;

    private static string BareType(string type) => type.EndsWith("?", System.StringComparison.Ordinal) ? type.Substring(0, type.Length - 1) : type;

    private static string TypeParameterList(MemberModel member) =>
        member.TypeParameters.Count == 0 ? string.Empty : "<" + string.Join(", ", member.TypeParameters.Select(t => t.Name)) + ">";

    private static string TypeArgumentList(MemberModel member) => TypeParameterList(member);

    private static void WriteConstraints(SourceWriter writer, MemberModel member)
    {
        foreach (var typeParameter in member.TypeParameters)
        {
            if (typeParameter.ConstraintClause.Length != 0)
            {
                writer.WriteLine("    " + typeParameter.ConstraintClause);
            }
        }
    }

    private static string ParameterList(MemberModel member) => string.Join(", ", member.Parameters.Select(p =>
        string.Concat(p.Attributes.Select(a => "[" + a + "] "))
        + (p.IsThis ? "this " : string.Empty)
        + (p.IsParams ? "params " : string.Empty)
        + (p.RefKind.Length == 0 ? string.Empty : p.RefKind + " ")
        + p.Type + " " + p.Name
        + (p.DefaultValue is null ? string.Empty : " = " + p.DefaultValue)));

    private static string ArgumentList(MemberModel member) => string.Join(", ", member.Parameters.Select(p => p.RefKind switch
    {
        "" => p.Name,
        "ref readonly" => "in " + p.Name,
        _ => p.RefKind + " " + p.Name,
    }));

    /// <summary>Writes a doc comment, pointing references to the description type at the generated type instead.</summary>
    private static void WriteDoc(SourceWriter writer, string? doc, DescriptionModel description, string generatedType)
    {
        if (doc is null)
        {
            return;
        }

        var text = doc.Replace(":" + description.DocIdName + ".", ":" + generatedType + ".")
            .Replace(":" + description.DocIdName + "\"", ":" + generatedType + "\"");
        foreach (var line in text.Split('\n'))
        {
            writer.WriteLine(line.Length == 0 ? "///" : "/// " + line);
        }
    }

    private static string Xml(string text) => text.Replace("&", "&amp;").Replace("<", "&lt;").Replace(">", "&gt;");
}
