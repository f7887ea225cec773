// The FHIR R4 Patient CompartmentDefinition (4.0.1) as data (SPEC-DIGEST §3.3, generated from the R4
// compartment.json and search-parameters.json). One line per compartment parameter:
// `<type> <parameter> <path>[|<path>] <targets|*>`. Paths are the FHIRPath expressions with the type prefix
// and `.where(resolve() is Patient)` removed: the gateway only ever collects references whose type part is
// `Patient`, which is what that filter means for literal references (SPEC-DIGEST §3.2 program note).
// Lines longer than 120 columns are unbreakable data rows.

extension PatientCompartment {
    static let tableText = """
        Account subject subject Device,HealthcareService,Location,Organization,Patient,Practitioner,PractitionerRole
        AdverseEvent subject subject Group,Patient,Practitioner,RelatedPerson
        AllergyIntolerance patient patient Group,Patient
        AllergyIntolerance recorder recorder Patient,Practitioner,PractitionerRole,RelatedPerson
        AllergyIntolerance asserter asserter Patient,Practitioner,PractitionerRole,RelatedPerson
        Appointment actor participant.actor Device,HealthcareService,Location,Patient,Practitioner,PractitionerRole,RelatedPerson
        AppointmentResponse actor actor Device,HealthcareService,Location,Patient,Practitioner,PractitionerRole,RelatedPerson
        AuditEvent patient agent.who|entity.what Patient
        Basic patient subject Patient
        Basic author author Organization,Patient,Practitioner,PractitionerRole,RelatedPerson
        BodyStructure patient patient Patient
        CarePlan patient subject Group,Patient
        CarePlan performer activity.detail.performer CareTeam,Device,HealthcareService,Organization,Patient,Practitioner,PractitionerRole,RelatedPerson
        CareTeam patient subject Group,Patient
        CareTeam participant participant.member CareTeam,Organization,Patient,Practitioner,PractitionerRole,RelatedPerson
        ChargeItem subject subject Group,Patient
        Claim patient patient Patient
        Claim payee payee.party Organization,Patient,Practitioner,PractitionerRole,RelatedPerson
        ClaimResponse patient patient Patient
        ClinicalImpression subject subject Group,Patient
        Communication subject subject Group,Patient
        Communication sender sender Device,HealthcareService,Organization,Patient,Practitioner,PractitionerRole,RelatedPerson
        Communication recipient recipient CareTeam,Device,Group,HealthcareService,Organization,Patient,Practitioner,PractitionerRole,RelatedPerson
        CommunicationRequest subject subject Group,Patient
        CommunicationRequest sender sender Device,HealthcareService,Organization,Patient,Practitioner,PractitionerRole,RelatedPerson
        CommunicationRequest recipient recipient CareTeam,Device,Group,HealthcareService,Organization,Patient,Practitioner,PractitionerRole,RelatedPerson
        CommunicationRequest requester requester Device,Organization,Patient,Practitioner,PractitionerRole,RelatedPerson
        Composition subject subject *
        Composition author author Device,Organization,Patient,Practitioner,PractitionerRole,RelatedPerson
        Composition attester attester.party Organization,Patient,Practitioner,PractitionerRole,RelatedPerson
        Condition patient subject Group,Patient
        Condition asserter asserter Patient,Practitioner,PractitionerRole,RelatedPerson
        Consent patient patient Group,Patient
        Coverage policy-holder policyHolder Organization,Patient,RelatedPerson
        Coverage subscriber subscriber Patient,RelatedPerson
        Coverage beneficiary beneficiary Patient
        Coverage payor payor Organization,Patient,RelatedPerson
        CoverageEligibilityRequest patient patient Patient
        CoverageEligibilityResponse patient patient Patient
        DetectedIssue patient patient Group,Patient
        DeviceRequest subject subject Device,Group,Location,Patient
        DeviceRequest performer performer CareTeam,Device,HealthcareService,Organization,Patient,Practitioner,PractitionerRole,RelatedPerson
        DeviceUseStatement subject subject Group,Patient
        DiagnosticReport subject subject Device,Group,Location,Patient
        DocumentManifest subject subject Device,Group,Patient,Practitioner
        DocumentManifest author author Device,Organization,Patient,Practitioner,PractitionerRole,RelatedPerson
        DocumentManifest recipient recipient Organization,Patient,Practitioner,PractitionerRole,RelatedPerson
        DocumentReference subject subject Device,Group,Patient,Practitioner
        DocumentReference author author Device,Organization,Patient,Practitioner,PractitionerRole,RelatedPerson
        Encounter patient subject Group,Patient
        EnrollmentRequest subject candidate Patient
        EpisodeOfCare patient patient Group,Patient
        ExplanationOfBenefit patient patient Patient
        ExplanationOfBenefit payee payee.party Organization,Patient,Practitioner,PractitionerRole,RelatedPerson
        FamilyMemberHistory patient patient Group,Patient
        Flag patient subject Group,Patient
        Goal patient subject Group,Patient
        Group member member.entity Device,Group,Medication,Patient,Practitioner,PractitionerRole,Substance
        ImagingStudy patient subject Group,Patient
        Immunization patient patient Group,Patient
        ImmunizationEvaluation patient patient Patient
        ImmunizationRecommendation patient patient Patient
        Invoice subject subject Group,Patient
        Invoice patient subject Patient
        Invoice recipient recipient Organization,Patient,RelatedPerson
        List subject subject Device,Group,Location,Patient
        List source source Device,Patient,Practitioner,PractitionerRole
        MeasureReport patient subject Patient
        Media subject subject Device,Group,Location,Patient,Practitioner,PractitionerRole,Specimen
        MedicationAdministration patient subject Group,Patient
        MedicationAdministration performer performer.actor Device,Patient,Practitioner,PractitionerRole,RelatedPerson
        MedicationAdministration subject subject Group,Patient
        MedicationDispense subject subject Group,Patient
        MedicationDispense patient subject Group,Patient
        MedicationDispense receiver receiver Patient,Practitioner
        MedicationRequest subject subject Group,Patient
        MedicationStatement subject subject Group,Patient
        MolecularSequence patient patient Patient
        NutritionOrder patient patient Group,Patient
        Observation subject subject Device,Group,Location,Patient
        Observation performer performer CareTeam,Organization,Patient,Practitioner,PractitionerRole,RelatedPerson
        Patient link link.other Patient,RelatedPerson
        Person patient link.target Patient
        Procedure patient subject Group,Patient
        Procedure performer performer.actor Device,Organization,Patient,Practitioner,PractitionerRole,RelatedPerson
        Provenance patient target Patient
        QuestionnaireResponse subject subject *
        QuestionnaireResponse author author Device,Organization,Patient,Practitioner,PractitionerRole,RelatedPerson
        RelatedPerson patient patient Patient
        RequestGroup subject subject Group,Patient
        RequestGroup participant action.participant Device,Patient,Practitioner,PractitionerRole,RelatedPerson
        ResearchSubject individual individual Patient
        RiskAssessment subject subject Group,Patient
        Schedule actor actor Device,HealthcareService,Location,Patient,Practitioner,PractitionerRole,RelatedPerson
        ServiceRequest subject subject Device,Group,Location,Patient
        ServiceRequest performer performer CareTeam,Device,HealthcareService,Organization,Patient,Practitioner,PractitionerRole,RelatedPerson
        Specimen subject subject Device,Group,Location,Patient,Substance
        SupplyDelivery patient patient Group,Patient
        SupplyRequest subject deliverTo Location,Organization,Patient
        VisionPrescription patient patient Group,Patient
        """
}
